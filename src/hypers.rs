//! Hyper-parameter structs described once: each field's name, type, default and documentation.
//!
//! A struct declared with [`hypers!`](crate::hypers!) is an ordinary Rust struct with a `Default`,
//! and also implements [`Hypers`]: its fields can be set by name from a language-neutral
//! [`Value`] and listed back as `(name, value)` pairs. The Python binding builds calculators from
//! keyword arguments and returns `calculator.hypers` through this trait alone, so adding a
//! hyper-parameter means adding one line (with its doc comment) to the struct declaration.
//!
//! Only the *type* of each value is checked here (an `int` for `n_max`, a `str` for `method`,
//! ...); the domain of each value (a positive cutoff, a known method name, ...) is checked by the
//! calculators that use the struct, as for structs built in Rust.

use crate::error::Error;

/// A hyper-parameter value crossing a language boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Not set: `None` in Python.
    None,
    /// A boolean (refused by the numeric fields: `n_max=True` is a mistake, not `1`).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
}

/// Why a [`Value`] cannot be stored in a field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldError {
    /// No field has this name.
    Unknown,
    /// The value has the wrong type; the field expects the given Python type (e.g. `"int"`).
    WrongType(&'static str),
    /// The value has the right type but cannot be represented (e.g. a negative count).
    Invalid(Error),
}

/// A type that can be a hyper-parameter field.
pub trait Field: Sized {
    /// The accepted type, in Python's spelling (`"float"`, `"int"`, `"str"`, `"float | None"`).
    const TYPE: &'static str;
    /// Read a value of this field's type.
    fn from_value(value: &Value) -> std::result::Result<Self, FieldError>;
    /// This field as a value.
    fn to_value(&self) -> Value;
}

impl Field for f64 {
    const TYPE: &'static str = "float";
    fn from_value(value: &Value) -> std::result::Result<Self, FieldError> {
        match *value {
            Value::Float(x) => Ok(x),
            Value::Int(i) => Ok(i as f64),
            _ => Err(FieldError::WrongType(Self::TYPE)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Float(*self)
    }
}

/// Non-negative integers: a negative value is an [`Error::InvalidParameter`], not a type error.
macro_rules! unsigned_field {
    ($($ty:ty),*) => {$(
        impl Field for $ty {
            const TYPE: &'static str = "int";
            fn from_value(value: &Value) -> std::result::Result<Self, FieldError> {
                match *value {
                    Value::Int(i) if i < 0 => Err(FieldError::Invalid(Error::InvalidParameter(
                        format!("must be >= 0, got {i}"),
                    ))),
                    Value::Int(i) => <$ty>::try_from(i).map_err(|_| {
                        FieldError::Invalid(Error::InvalidParameter(format!("{i} is too large")))
                    }),
                    _ => Err(FieldError::WrongType(Self::TYPE)),
                }
            }
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
unsigned_field!(usize, u32);

impl<T: Field> Field for Option<T> {
    const TYPE: &'static str = "optional";
    fn from_value(value: &Value) -> std::result::Result<Self, FieldError> {
        match value {
            Value::None => Ok(None),
            other => T::from_value(other).map(Some).map_err(|e| match e {
                FieldError::WrongType(_) => FieldError::WrongType(optional_type_name::<T>()),
                e => e,
            }),
        }
    }
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::None, T::to_value)
    }
}

/// `"T | None"` for the optional fields' messages (the few inner types there are).
fn optional_type_name<T: Field>() -> &'static str {
    match T::TYPE {
        "float" => "float | None",
        "int" => "int | None",
        "str" => "str | None",
        _ => "a value or None",
    }
}

/// A struct of hyper-parameters whose fields are reachable by name (implemented by
/// [`hypers!`](crate::hypers!)).
pub trait Hypers: Default + Clone {
    /// Every field's name, in declaration order.
    const NAMES: &'static [&'static str];
    /// The fields without a default on the Python side (they must be given).
    const REQUIRED: &'static [&'static str];
    /// Every field's doc comment, in declaration order.
    const DOCS: &'static [&'static str];
    /// Set the field `name` from `value`.
    fn set(&mut self, name: &str, value: &Value) -> std::result::Result<(), FieldError>;
    /// Every field as `(name, value)`, in declaration order.
    fn values(&self) -> Vec<(&'static str, Value)>;
}

/// Declare a hyper-parameter struct: the struct, its `Default` (the `= default` of each field)
/// and its [`Hypers`](crate::hypers::Hypers) implementation, from one list of fields. Fields
/// named after `required:` have a Rust default but must be given by Python callers.
///
/// ```
/// lode_rs::hypers! {
///     /// Example hyper-parameters.
///     pub struct Example {
///         /// Radius (Å).
///         pub cutoff: f64 = 3.0,
///         /// Optional count.
///         pub count: Option<usize> = None,
///     }
///     required: cutoff
/// }
/// use lode_rs::hypers::{Hypers, Value};
/// let mut e = Example::default();
/// e.set("count", &Value::Int(4)).unwrap();
/// assert_eq!(e.count, Some(4));
/// assert_eq!(Example::NAMES, ["cutoff", "count"]);
/// ```
#[macro_export]
macro_rules! hypers {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                pub $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
        required: $($required:ident),* $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $($field: $default,)* }
            }
        }

        impl $crate::hypers::Hypers for $name {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];
            const REQUIRED: &'static [&'static str] = &[$(stringify!($required)),*];
            const DOCS: &'static [&'static str] = &[$(concat!($($doc, "\n"),*)),*];

            fn set(
                &mut self,
                name: &str,
                value: &$crate::hypers::Value,
            ) -> std::result::Result<(), $crate::hypers::FieldError> {
                match name {
                    $(stringify!($field) => {
                        self.$field = <$ty as $crate::hypers::Field>::from_value(value)?;
                    })*
                    _ => return Err($crate::hypers::FieldError::Unknown),
                }
                Ok(())
            }

            fn values(&self) -> Vec<(&'static str, $crate::hypers::Value)> {
                vec![$((stringify!($field), $crate::hypers::Field::to_value(&self.$field))),*]
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::hypers! {
        /// Test struct.
        pub struct Demo {
            /// A length.
            pub length: f64 = 1.5,
            /// A count.
            pub count: usize = 3,
            /// An optional order.
            pub order: Option<u32> = None,
        }
        required: length
    }

    #[test]
    fn names_defaults_and_docs_come_from_the_declaration() {
        assert_eq!(Demo::NAMES, ["length", "count", "order"]);
        assert_eq!(Demo::REQUIRED, ["length"]);
        assert_eq!(Demo::DOCS[1].trim(), "A count.");
        let d = Demo::default();
        assert_eq!((d.length, d.count, d.order), (1.5, 3, None));
        assert_eq!(
            d.values(),
            vec![
                ("length", Value::Float(1.5)),
                ("count", Value::Int(3)),
                ("order", Value::None)
            ]
        );
    }

    #[test]
    fn set_checks_types_and_representability() {
        let mut d = Demo::default();
        d.set("length", &Value::Int(2)).unwrap();
        assert_eq!(d.length, 2.0);
        d.set("order", &Value::Int(5)).unwrap();
        assert_eq!(d.order, Some(5));
        d.set("order", &Value::None).unwrap();
        assert_eq!(d.order, None);
        assert_eq!(
            d.set("count", &Value::Float(4.0)),
            Err(FieldError::WrongType("int"))
        );
        assert_eq!(
            d.set("order", &Value::Float(4.0)),
            Err(FieldError::WrongType("int | None"))
        );
        assert_eq!(
            d.set("length", &Value::Bool(true)),
            Err(FieldError::WrongType("float"))
        );
        assert!(matches!(
            d.set("count", &Value::Int(-1)),
            Err(FieldError::Invalid(Error::InvalidParameter(_)))
        ));
        assert!(matches!(
            d.set("order", &Value::Int(i64::MAX)),
            Err(FieldError::Invalid(Error::InvalidParameter(_)))
        ));
        assert_eq!(d.set("lenght", &Value::Int(1)), Err(FieldError::Unknown));
    }
}
