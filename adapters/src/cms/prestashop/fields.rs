//! PrestaShop 8's field rules, as data ([`FIELD_RULES`]): the validators and sizes of the
//! `$definition` of each object the sync writes, which the webservice applies in
//! `validateFieldsLang` (error 84) and `validateFields` (error 85) before saving.
//!
//! Sources (`/work/shared/reference/prestashop-write-contract.md`):
//! * Product — PrestaShop/PrestaShop `classes/Product.php`@0003528b: reference
//!   `isReference` 64; name `isCatalogName` 128 (lang); link_rewrite `isLinkRewrite` 128;
//!   meta_title `isGenericName` 255, meta_description 512, meta_keywords 255;
//!   description(_short) `isCleanHtml`; price `isPrice`; ean13 `isEan13` 13;
//!   width/height/depth/weight `isUnsignedFloat`.
//! * Validate.php 8.x: `isCatalogName /^[^<>;=#{}]*$/u`, `isReference /^[^<>;={}]*$/u`,
//!   `isGenericName /^[^<>={}]*$/u`, `isLinkRewrite /^[_a-zA-Z0-9\-]+$/` (accented URLs
//!   off, the default), `isPrice /^[0-9]{1,10}(\.[0-9]{1,9})?$/`, `isEan13 /^[0-9]{0,13}$/`.
//! * Customer — `classes/Customer.php`@00041d5c: firstname/lastname `isCustomerName` 255,
//!   required; company `isGenericName`. `isCustomerName` is the 8.x `CustomerNameValidator`
//!   (`src/Core/ConstraintValidator/CustomerNameValidator.php`, `PATTERN_NAME`): no digit,
//!   none of ``!<>,;?=+()/\@#"°*`{}_^$%:¤[]|``, a dot only before a space or at the end
//!   (`&` is allowed).
//! * Category name `isCatalogName` 128; Manufacturer name `isCatalogName` 64.
//! * AttributeGroup (`product_options`) name `isGenericName` 128, Attribute
//!   (`product_option_values`) name `isGenericName` 128, Combination reference
//!   `isReference` 64 — from PrestaShop 8's `AttributeGroup.php`, `Attribute.php`,
//!   `Combination.php` (the reference marks these as not re-checked).
//! * Order reference: no validator nor size in `Order::$definition` 8.x, but the column is
//!   `varchar(9)` (install-dev/data/db_structure.sql) on a non-strict connection
//!   (DbPDO.php `sql_mode = ''`): PrestaShop cuts a longer value silently, so the sync
//!   shortens it itself, with a warning.

use passerelle_domain::fields::{Check, Field, FieldRule, FieldRules};

const CATALOG_NAME: Check = Check::NoneOf("<>;=#{}");
const REFERENCE: Check = Check::NoneOf("<>;={}");
const GENERIC_NAME: Check = Check::NoneOf("<>={}");
/// `CustomerNameValidator::PATTERN_NAME`'s forbidden class (digits and the dot rule are
/// part of [`Check::PersonName`]).
pub const CUSTOMER_NAME_FORBIDDEN: &str = "!<>,;?=+()/\\@#\"°*`{}_^$%:¤[]|";

const fn rule(
    field: Field,
    name: &'static str,
    validator: &'static str,
    checks: &'static [Check],
) -> FieldRule {
    FieldRule {
        field,
        name,
        validator,
        checks,
    }
}

/// PrestaShop 8's rules for the fields the sync writes.
pub const FIELD_RULES: FieldRules = FieldRules {
    platform: "PrestaShop",
    rules: &[
        rule(
            Field::ProductReference,
            "reference",
            "isReference",
            &[REFERENCE, Check::MaxChars(64)],
        ),
        rule(
            Field::ProductName,
            "name",
            "isCatalogName",
            &[CATALOG_NAME, Check::MaxChars(128)],
        ),
        rule(
            Field::ProductSlug,
            "link_rewrite",
            "isLinkRewrite",
            &[Check::Slug, Check::MaxChars(128)],
        ),
        rule(
            Field::MetaTitle,
            "meta_title",
            "isGenericName",
            &[GENERIC_NAME, Check::MaxChars(255)],
        ),
        rule(
            Field::MetaDescription,
            "meta_description",
            "isGenericName",
            &[GENERIC_NAME, Check::MaxChars(512)],
        ),
        rule(
            Field::MetaKeywords,
            "meta_keywords",
            "isGenericName",
            &[GENERIC_NAME, Check::MaxChars(255)],
        ),
        rule(
            Field::ProductDescription,
            "description",
            "isCleanHtml",
            &[Check::CleanHtml],
        ),
        rule(
            Field::ProductSummary,
            "description_short",
            "isCleanHtml",
            &[Check::CleanHtml],
        ),
        rule(
            Field::Price,
            "price",
            "isPrice",
            &[Check::Unsigned(Some(10))],
        ),
        rule(Field::Ean13, "ean13", "isEan13", &[Check::Digits(13)]),
        rule(
            Field::Weight,
            "weight",
            "isUnsignedFloat",
            &[Check::Unsigned(None)],
        ),
        rule(
            Field::Width,
            "width",
            "isUnsignedFloat",
            &[Check::Unsigned(None)],
        ),
        rule(
            Field::Height,
            "height",
            "isUnsignedFloat",
            &[Check::Unsigned(None)],
        ),
        rule(
            Field::Depth,
            "depth",
            "isUnsignedFloat",
            &[Check::Unsigned(None)],
        ),
        rule(
            Field::CategoryName,
            "name",
            "isCatalogName",
            &[Check::Required, CATALOG_NAME, Check::MaxChars(128)],
        ),
        rule(
            Field::ManufacturerName,
            "name",
            "isCatalogName",
            &[Check::Required, CATALOG_NAME, Check::MaxChars(64)],
        ),
        rule(
            Field::AttributeGroupName,
            "name",
            "isGenericName",
            &[Check::Required, GENERIC_NAME, Check::MaxChars(128)],
        ),
        rule(
            Field::AttributeValueName,
            "name",
            "isGenericName",
            &[Check::Required, GENERIC_NAME, Check::MaxChars(128)],
        ),
        rule(
            Field::CombinationReference,
            "reference",
            "isReference",
            &[REFERENCE, Check::MaxChars(64)],
        ),
        rule(
            Field::CustomerFirstname,
            "firstname",
            "isCustomerName",
            &[
                Check::Required,
                Check::PersonName(CUSTOMER_NAME_FORBIDDEN),
                Check::MaxChars(255),
            ],
        ),
        rule(
            Field::CustomerLastname,
            "lastname",
            "isCustomerName",
            &[
                Check::Required,
                Check::PersonName(CUSTOMER_NAME_FORBIDDEN),
                Check::MaxChars(255),
            ],
        ),
        rule(
            Field::CustomerCompany,
            "company",
            "isGenericName",
            &[GENERIC_NAME, Check::MaxChars(255)],
        ),
        rule(
            Field::OrderReference,
            "reference",
            "orders.reference varchar(9)",
            &[Check::MaxChars(9)],
        ),
    ],
};
