//! A JSON object writer, enough for flat records of strings and numbers.

use std::fmt::Write;

/// Builds `{"key":value,...}`.
pub struct Object {
    text: String,
}

impl Object {
    pub fn new() -> Object {
        Object {
            text: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        push_string(&mut self.text, key);
        self.text.push(':');
    }

    pub fn number(&mut self, key: &str, value: impl Into<u128>) -> &mut Object {
        self.key(key);
        let _ = write!(self.text, "{}", value.into());
        self
    }

    pub fn signed(&mut self, key: &str, value: Option<i32>) -> &mut Object {
        self.key(key);
        match value {
            Some(value) => {
                let _ = write!(self.text, "{value}");
            }
            None => self.text.push_str("null"),
        }
        self
    }

    pub fn boolean(&mut self, key: &str, value: bool) -> &mut Object {
        self.key(key);
        self.text.push_str(if value { "true" } else { "false" });
        self
    }

    pub fn string(&mut self, key: &str, value: &str) -> &mut Object {
        self.key(key);
        push_string(&mut self.text, value);
        self
    }

    pub fn strings<'a>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> &mut Object {
        self.key(key);
        self.text.push('[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            push_string(&mut self.text, value);
        }
        self.text.push(']');
        self
    }

    pub fn finish(&mut self) -> String {
        let mut text = std::mem::take(&mut self.text);
        text.push('}');
        text
    }
}

/// Appends `value` as a JSON string.
fn push_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_with_every_kind() {
        let text = Object::new()
            .string("s", "a\"b\\c\nd\u{1}é")
            .number("n", 42u64)
            .signed("neg", Some(-3))
            .signed("none", None)
            .boolean("t", true)
            .strings("l", ["x", "y"])
            .finish();
        assert_eq!(
            text,
            r#"{"s":"a\"b\\c\nd\u0001é","n":42,"neg":-3,"none":null,"t":true,"l":["x","y"]}"#
        );
        assert_eq!(Object::new().finish(), "{}");
    }
}
