//! One module per sync action.

pub mod activate_articles;
pub mod catalog;
pub mod demo_engine;
pub mod export_articles;
pub mod export_images;
pub mod import_orders;
pub mod update_orders;
pub mod update_prices;
pub mod update_stock;
