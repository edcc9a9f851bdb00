//! One module per sync action.

pub mod activate_articles;
pub mod catalog;
pub mod demo_engine;
pub mod export_articles;
mod export_extras;
pub(crate) mod export_links;
mod export_variants;
pub mod import_orders;
mod out_of_stock;
pub(crate) mod specific_prices;
pub mod update_orders;
pub mod update_prices;
pub mod update_stock;
