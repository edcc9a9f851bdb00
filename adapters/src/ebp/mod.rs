//! EBP Gestion Commerciale SaaS: what every worker of one subscription shares (call gate,
//! token store). Placeholder module file: the EBP client lands with its own `mod.rs`,
//! which keeps `pub mod gate;`.

pub mod gate;
