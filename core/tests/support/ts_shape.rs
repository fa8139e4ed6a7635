//! Checks JSON values against the TypeScript declarations ts-rs generates, so that a test can
//! prove a declaration says what serde really writes. Shared by the `generated_ts_matches_serde_json`
//! tests of mcpauth-core and mcpauth-wasm (the latter includes this file by path).
//!
//! It reads the type expressions ts-rs writes: object types (`{ a: T, b?: U, }`), unions (`|`,
//! tagged ones too), intersections (`&`, as for an internally tagged newtype variant), string
//! literals, `Array<T>`, tuples, `string`, `number`, `boolean`, `null`, `unknown`, and the names
//! of declarations added with [`Types::add`]. In an object, a key serde writes must be a field;
//! an absent field must be optional (`name?:`), and a `null` needs a type that admits `null`.

#![allow(dead_code)] // each test that includes this file uses a part of it

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use ts_rs::{Config, TS};

/// Declarations by TypeScript name: the type expression each one names.
pub struct Types {
    cfg: Config,
    decls: BTreeMap<String, String>,
}

/// One member of an object type.
pub struct Field {
    pub name: String,
    pub optional: bool,
    pub ty: String,
}

impl Types {
    /// No declarations yet; ts-rs configured as `scripts/gen-types` configures it.
    pub fn new() -> Self {
        Self {
            cfg: Config::from_env(),
            decls: BTreeMap::new(),
        }
    }

    /// Adds the declaration of `T`.
    pub fn add<T: TS + ?Sized + 'static>(&mut self) {
        let decl = strip_comments(&T::decl(&self.cfg));
        let (_, body) = decl
            .split_once('=')
            .unwrap_or_else(|| panic!("no `=` in {decl}"));
        let body = body.trim().trim_end_matches(';').trim().to_owned();
        self.decls.insert(T::ident(&self.cfg), body);
    }

    /// The members of the object type `name`.
    pub fn fields(&self, name: &str) -> Vec<Field> {
        let body = self
            .decls
            .get(name)
            .unwrap_or_else(|| panic!("`{name}` is not added"));
        object_fields(body).unwrap_or_else(|| panic!("`{name}` is not an object type: {body}"))
    }

    /// Serializes `value` with serde_json and checks it against the type named `ty`.
    pub fn check(&self, ty: &str, value: &impl Serialize) {
        self.check_json(
            ty,
            &serde_json::to_value(value).unwrap_or_else(|e| panic!("{e}")),
        );
    }

    /// Checks a JSON value against the type named `ty`.
    pub fn check_json(&self, ty: &str, value: &Value) {
        if let Err(why) = self.matches(ty, value, ty) {
            panic!("{why}\nvalue: {value}");
        }
    }

    /// Whether `value` has the type expression `ty`; else why not, at `at`.
    fn matches(&self, ty: &str, value: &Value, at: &str) -> Result<(), String> {
        let ty = ty.trim();
        let alternatives = split_top_level(ty, '|');
        if alternatives.len() > 1 {
            let mut misses = Vec::new();
            for alternative in &alternatives {
                match self.matches(alternative, value, at) {
                    Ok(()) => return Ok(()),
                    Err(why) => misses.push(why),
                }
            }
            return Err(format!(
                "{at}: matches no alternative of `{ty}`:\n  {}",
                misses.join("\n  ")
            ));
        }
        let parts = split_top_level(ty, '&');
        if parts.len() > 1 {
            let mut fields = Vec::new();
            for part in &parts {
                fields
                    .extend(self.object(part).ok_or_else(|| {
                        format!("{at}: `{part}` in `{ty}` is not an object type")
                    })?);
            }
            return self.matches_object(&fields, value, at);
        }
        let kind_ok = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("{at}: {value} is not {what}"))
            }
        };
        match ty {
            "unknown" => Ok(()),
            "null" => kind_ok(value.is_null(), "null"),
            "string" => kind_ok(value.is_string(), "a string"),
            "number" => kind_ok(value.is_number(), "a number"),
            "boolean" => kind_ok(value.is_boolean(), "a boolean"),
            _ if ty.starts_with('"') => kind_ok(value.as_str() == Some(ty.trim_matches('"')), ty),
            _ if ty.starts_with("Array<") && ty.ends_with('>') => {
                let item = &ty["Array<".len()..ty.len() - 1];
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("{at}: {value} is not an array"))?;
                for (i, v) in items.iter().enumerate() {
                    self.matches(item, v, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            _ if ty.starts_with('[') && ty.ends_with(']') => {
                let parts = split_top_level(&ty[1..ty.len() - 1], ',');
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("{at}: {value} is not a tuple"))?;
                if items.len() != parts.len() {
                    return Err(format!("{at}: {value} is not a `{ty}`"));
                }
                for (i, (part, v)) in parts.iter().zip(items).enumerate() {
                    self.matches(part, v, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            _ if ty.starts_with('{') => {
                let fields =
                    object_fields(ty).ok_or_else(|| format!("{at}: cannot read `{ty}`"))?;
                self.matches_object(&fields, value, at)
            }
            _ => match self.decls.get(ty) {
                Some(body) => self.matches(body, value, at),
                None => panic!("{at}: type `{ty}` is not added to the checked types"),
            },
        }
    }

    /// The fields of an object type, through declaration names.
    fn object(&self, ty: &str) -> Option<Vec<Field>> {
        let ty = ty.trim();
        match self.decls.get(ty) {
            Some(body) => self.object(body),
            None => object_fields(ty),
        }
    }

    fn matches_object(&self, fields: &[Field], value: &Value, at: &str) -> Result<(), String> {
        let object = value
            .as_object()
            .ok_or_else(|| format!("{at}: {value} is not an object"))?;
        if let Some(key) = object
            .keys()
            .find(|key| !fields.iter().any(|f| &f.name == *key))
        {
            return Err(format!(
                "{at}: serde writes `{key}`, which the type does not have"
            ));
        }
        for field in fields {
            let path = format!("{at}.{}", field.name);
            match object.get(&field.name) {
                None if field.optional => {}
                None => {
                    return Err(format!(
                        "{path} can be absent, so the type must mark it optional (`#[ts(optional)]`, or \
                         `#[ts(as = \"Option<_>\", optional)]` on a defaulted field)"
                    ));
                }
                Some(Value::Null)
                    if !split_top_level(&field.ty, '|').iter().any(|t| t == "null") =>
                {
                    return Err(format!(
                        "{path} is null, so its type `{}` must admit null (`T | null`)",
                        field.ty
                    ));
                }
                Some(v) => self.matches(&field.ty, v, &path)?,
            }
        }
        Ok(())
    }
}

/// The members of an object type expression `{ ... }`; `None` for anything else.
fn object_fields(ty: &str) -> Option<Vec<Field>> {
    let members = ty.trim().strip_prefix('{')?.strip_suffix('}')?;
    split_top_level(members, ',')
        .into_iter()
        .map(|member| {
            let (name, ty) = member.split_once(':')?;
            let name = name.trim();
            Some(Field {
                optional: name.ends_with('?'),
                name: name.trim_end_matches('?').trim_matches('"').to_owned(),
                ty: ty.trim().to_owned(),
            })
        })
        .collect()
}

/// `s` without its `/* ... */` comments.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("*/")
            .unwrap_or_else(|| panic!("unclosed comment in {s}"));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Splits `s` at the `sep`s outside brackets and quotes; drops empty parts.
fn split_top_level(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' | '<' | '(' if !quoted => depth += 1,
            '}' | ']' | '>' | ')' if !quoted => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 && !quoted {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}
