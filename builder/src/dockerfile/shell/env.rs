//! The variables in scope for an expansion.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A source of variable values. A name is either set (possibly to the empty string,
/// which `${V:-w}` and `${V-w}` tell apart) or unset.
pub trait Env {
    /// The value of `name`, or `None` when it is unset. Names are compared exactly
    /// (BuildKit's Unix behaviour).
    fn get(&self, name: &str) -> Option<Cow<'_, str>>;
}

impl<T: Env + ?Sized> Env for &T {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        (**self).get(name)
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        HashMap::get(self, name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        BTreeMap::get(self, name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

/// Ordered `(name, value)` pairs; a later pair overrides an earlier one of the same name,
/// as in BuildKit's `EnvsFromSlice`.
impl<K: AsRef<str>, V: AsRef<str>> Env for [(K, V)] {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.iter()
            .rev()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| Cow::Borrowed(v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Env for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        Env::get(self.as_slice(), name)
    }
}

/// An environment in which every variable is unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmptyEnv;

impl Env for EmptyEnv {
    fn get(&self, _name: &str) -> Option<Cow<'_, str>> {
        None
    }
}

/// Adapts a lookup closure into an [`Env`].
#[derive(Debug, Clone, Copy)]
pub struct FnEnv<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Env for FnEnv<F> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        (self.0)(name).map(Cow::Owned)
    }
}
