//! One module per sync action.

pub mod activate_articles;
pub mod catalog;
pub mod customers;
pub mod deactivate_customers;
pub mod demo_engine;
pub(crate) mod erp_import;
pub mod export_articles;
pub mod export_customer_groups;
pub mod export_customers;
mod export_extras;
pub mod export_images;
pub(crate) mod export_links;
mod export_variants;
pub mod import_orders;
pub mod import_prospects;
mod out_of_stock;
pub(crate) mod specific_prices;
pub mod update_orders;
pub mod update_prices;
pub mod update_stock;
