//! Every GraphQL document the client sends, with its requested cost.
//!
//! The documents are validated against the published Admin schema 2026-04 by a test
//! (`ops/tests/shopify.rs`, `specs/shopify/admin-2026-04.graphql`). The costs follow
//! Shopify's calculated query cost (scalar and enum 0, object 1, connection 2 + `first` ×
//! one node, mutation 10; https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits)
//! and are checked against the simulator's own calculation by the same test: the client
//! reserves them in the shared bucket before sending and never sends more than
//! [`MAX_QUERY_COST`].

/// The single-query limit of requested cost.
pub const MAX_QUERY_COST: u32 = 1000;
/// The largest input array (`inventorySetQuantities.input.quantities`).
pub const MAX_INPUT_ITEMS: usize = 250;
/// Metafields per `metafieldsSet`.
pub const MAX_METAFIELDS: usize = 25;
/// Lines read with each order (more: read by [`ORDER_LINES`]).
pub const LINES_PER_ORDER: u32 = 10;
/// Lines per [`ORDER_LINES`] page.
pub const LINES_PER_PAGE: u32 = 50;
/// Our metafield namespace.
pub const NAMESPACE: &str = "passerelle";

/// The shop (connection test, configuration, currency).
pub const SHOP: &str = "query Shop { shop { name currencyCode ianaTimezone myshopifyDomain } }";
/// [`SHOP`]'s cost.
pub const SHOP_COST: u32 = 1;

/// The locations (the stock is written at the first active one).
pub const LOCATIONS: &str =
    "query Locations { locations(first: 10) { nodes { id name isActive } } }";
/// [`LOCATIONS`]'s cost.
pub const LOCATIONS_COST: u32 = 2 + 10;

const MONEY: &str =
    "{ shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }";

/// Cost of one `MoneyBag` with both monies.
const BAG: u32 = 3;
/// Cost of one line item node: itself, two bags, the tax lines (with their bag).
const LINE_NODE: u32 = 1 + 2 * BAG + (1 + BAG);

fn line_fields() -> String {
    format!(
        "sku name currentQuantity originalUnitPriceSet {MONEY} discountedUnitPriceSet {MONEY} \
         taxLines {{ ratePercentage priceSet {MONEY} }}"
    )
}

fn address() -> &'static str {
    "{ firstName lastName company address1 address2 zip city countryCodeV2 provinceCode phone }"
}

/// One page of orders by keyset (`query` carries `id:>N` and the date window), with their
/// first [`LINES_PER_ORDER`] lines.
pub fn orders() -> String {
    format!(
        "query Orders($first: Int!, $after: String, $query: String!) {{ \
         orders(first: $first, after: $after, query: $query, sortKey: ID) {{ \
         pageInfo {{ hasNextPage endCursor }} \
         nodes {{ id name createdAt updatedAt processedAt cancelledAt currencyCode \
         presentmentCurrencyCode taxesIncluded displayFinancialStatus displayFulfillmentStatus \
         edited note email \
         customer {{ id firstName lastName defaultEmailAddress {{ emailAddress }} \
         erpAccount: metafield(namespace: \"{NAMESPACE}\", key: \"erp_account\") {{ value }} }} \
         billingAddress {addr} shippingAddress {addr} customAttributes {{ key value }} discountCodes \
         currentSubtotalPriceSet {MONEY} currentTotalPriceSet {MONEY} currentTotalTaxSet {MONEY} \
         currentCartDiscountAmountSet {MONEY} \
         shippingLine {{ title code originalPriceSet {MONEY} taxLines {{ ratePercentage priceSet {MONEY} }} }} \
         transactions(first: 5) {{ gateway status kind processedAt authorizationCode amountSet {MONEY} }} \
         erpDocument: metafield(namespace: \"{NAMESPACE}\", key: \"erp_document\") {{ value }} \
         lineItems(first: {LINES_PER_ORDER}) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {lines} }} }} \
         }} }} }}",
        addr = address(),
        lines = line_fields(),
    )
}

/// Cost of one order node of [`orders`].
pub const ORDER_NODE: u32 = 1
    + (1 + 1 + 1) // customer, its e-mail, its metafield
    + 2 // addresses
    + 1 // attributes
    + 4 * BAG
    + (1 + BAG + 1 + BAG) // shipping line, its price, its tax lines
    + (1 + BAG) // transactions
    + 1 // document metafield
    + 2 + LINES_PER_ORDER * LINE_NODE;

/// Requested cost of [`orders`] for `first` orders.
pub fn orders_cost(first: u32) -> u32 {
    2 + first * ORDER_NODE
}

/// The most orders one [`orders`] query may ask for within [`MAX_QUERY_COST`].
pub fn orders_per_query() -> u32 {
    ((MAX_QUERY_COST - 2) / ORDER_NODE).clamp(1, 250)
}

/// The following lines of one order.
pub fn order_lines() -> String {
    format!(
        "query OrderLines($id: ID!, $after: String) {{ order(id: $id) {{ \
         lineItems(first: {LINES_PER_PAGE}, after: $after) {{ pageInfo {{ hasNextPage endCursor }} \
         nodes {{ {} }} }} }} }}",
        line_fields()
    )
}

/// Name of [`order_lines`] for the documents list.
pub const ORDER_LINES: &str = "OrderLines";

/// [`order_lines`]'s cost.
pub const ORDER_LINES_COST: u32 = 1 + 2 + LINES_PER_PAGE * LINE_NODE;

/// Variants (and their inventory items) by SKU: `query` is `sku:"A" OR sku:"B" …`.
pub const VARIANTS_BY_SKU: &str = "query VariantsBySku($first: Int!, $query: String!) { \
     productVariants(first: $first, query: $query) { nodes { sku inventoryItem { id } } } }";

/// Requested cost of [`VARIANTS_BY_SKU`] for `first` variants.
pub fn variants_cost(first: u32) -> u32 {
    2 + first * 2
}

/// Sets available quantities (2026-04: `changeFromQuantity` on each, idempotency key
/// required).
pub const SET_QUANTITIES: &str =
    "mutation SetQuantities($input: InventorySetQuantitiesInput!, $key: String!) { \
     inventorySetQuantities(input: $input) @idempotent(key: $key) { \
     inventoryAdjustmentGroup { id } userErrors { field message code } } }";

/// Sets metafields (≤ [`MAX_METAFIELDS`]).
pub const METAFIELDS_SET: &str = "mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) { \
     metafieldsSet(metafields: $metafields) { metafields { key } userErrors { field message code } } }";

/// A mutation's cost.
pub const MUTATION_COST: u32 = 10;

/// Every document the client can send, with a name and the variables of a typical call
/// (for the schema test and the cost check).
pub fn all() -> Vec<(&'static str, String, serde_json::Value, u32)> {
    use serde_json::json;
    let first = orders_per_query();
    vec![
        ("Shop", SHOP.to_string(), json!({}), SHOP_COST),
        (
            "Locations",
            LOCATIONS.to_string(),
            json!({}),
            LOCATIONS_COST,
        ),
        (
            "Orders",
            orders(),
            json!({"first": first, "query": "id:>0"}),
            orders_cost(first),
        ),
        (
            ORDER_LINES,
            order_lines(),
            json!({"id": "gid://shopify/Order/1"}),
            ORDER_LINES_COST,
        ),
        (
            "VariantsBySku",
            VARIANTS_BY_SKU.to_string(),
            json!({"first": 250, "query": "sku:\"A\""}),
            variants_cost(250),
        ),
        (
            "SetQuantities",
            SET_QUANTITIES.to_string(),
            json!({"key": "k", "input": {"name": "available", "reason": "correction", "quantities": []}}),
            MUTATION_COST,
        ),
        (
            "MetafieldsSet",
            METAFIELDS_SET.to_string(),
            json!({"metafields": []}),
            MUTATION_COST,
        ),
    ]
}
