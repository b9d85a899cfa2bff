//! Options whose value is one of fixed names, declared as enums.

use super::error::Result;
use super::spec::Params;
use crate::fail;

/// Declares an option whose value is one of fixed names, as an enum: the names go into the
/// spec's `choices` and are parsed back in one place, so a choice is spelled once.
#[macro_export]
macro_rules! choice_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The option's choices, for its spec.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            /// The name an operator writes.
            #[allow(dead_code)]
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl $crate::ansible::choice::Choice for $name {
            fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

/// An enum declared with [`choice_enum!`].
pub trait Choice: Sized {
    fn parse(s: &str) -> Option<Self>;
}

impl Params {
    /// Reads a choice option that has a default (validation has checked the value already).
    pub fn choice<T: Choice>(&self, name: &str) -> Result<T> {
        let s = self.str(name).unwrap_or_default();
        T::parse(s).ok_or_else(|| fail!("{name}: '{s}' is not one of the choices"))
    }
}
