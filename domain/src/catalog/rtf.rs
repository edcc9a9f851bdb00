//! ERP rich text (EBP stores `DesCom` as RTF) → HTML for the shop's descriptions.
//!
//! A deliberately small converter: it keeps paragraphs (`\par`), line breaks (`\line`),
//! bold (`\b`/`\b0`), italic (`\i`/`\i0`), underline (`\ul`/`\ulnone`), code-page escapes
//! (`\'e9`, Windows-1252 as EBP writes) and Unicode escapes (`\u8364?`), and drops
//! destinations that hold no text (font and colour tables, `\*` groups, pictures).
//! Text that is not RTF is escaped and its line breaks kept.

/// Converts ERP text to HTML (RTF when it starts with `{\rtf`, plain text otherwise).
pub fn to_html(text: &str) -> String {
    let t = text.trim();
    if t.starts_with("{\\rtf") {
        rtf_to_html(t)
    } else {
        plain_to_html(t)
    }
}

fn escape(c: char, out: &mut String) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        '"' => out.push_str("&quot;"),
        _ => out.push(c),
    }
}

fn plain_to_html(t: &str) -> String {
    if t.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for (i, para) in t.split("\n\n").enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str("<p>");
        for (j, line) in para.lines().enumerate() {
            if j > 0 {
                out.push_str("<br>");
            }
            for c in line.trim_end_matches('\r').chars() {
                escape(c, &mut out);
            }
        }
        out.push_str("</p>");
    }
    out
}

/// Windows-1252 bytes 0x80–0x9F (the rest maps to the same Unicode code point).
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    if (0x80..0xA0).contains(&b) {
        HIGH[(b - 0x80) as usize]
    } else {
        b as char
    }
}

#[derive(Clone, Copy, Default)]
struct Style {
    bold: bool,
    italic: bool,
    underline: bool,
    skip: bool,
}

struct Writer {
    paragraphs: Vec<String>,
    current: String,
    open: Style,
}

impl Writer {
    fn set_style(&mut self, want: Style) {
        // Close in reverse order, reopen: keeps the HTML well nested.
        if self.open.underline && !want.underline
            || self.open.italic && !want.italic
            || self.open.bold && !want.bold
        {
            self.close_all();
        }
        if want.bold && !self.open.bold {
            self.current.push_str("<strong>");
            self.open.bold = true;
        }
        if want.italic && !self.open.italic {
            self.current.push_str("<em>");
            self.open.italic = true;
        }
        if want.underline && !self.open.underline {
            self.current.push_str("<u>");
            self.open.underline = true;
        }
    }
    fn close_all(&mut self) {
        if self.open.underline {
            self.current.push_str("</u>");
        }
        if self.open.italic {
            self.current.push_str("</em>");
        }
        if self.open.bold {
            self.current.push_str("</strong>");
        }
        self.open = Style::default();
    }
    fn text(&mut self, c: char, style: Style) {
        self.set_style(style);
        escape(c, &mut self.current);
    }
    fn paragraph(&mut self) {
        self.close_all();
        let p = std::mem::take(&mut self.current);
        self.paragraphs.push(p);
    }
}

fn rtf_to_html(t: &str) -> String {
    let chars: Vec<char> = t.chars().collect();
    let mut stack: Vec<Style> = Vec::new();
    let mut style = Style::default();
    let mut w = Writer {
        paragraphs: Vec::new(),
        current: String::new(),
        open: Style::default(),
    };
    // After \uN, the next character (usually `?`) is the ANSI fallback: skip it.
    let mut skip_fallback = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '{' => {
                stack.push(style);
                i += 1;
            }
            '}' => {
                style = stack.pop().unwrap_or_default();
                i += 1;
            }
            '\\' => {
                i += 1;
                let Some(&n) = chars.get(i) else { break };
                if n == '\\' || n == '{' || n == '}' {
                    if !style.skip {
                        w.text(n, style);
                    }
                    i += 1;
                    continue;
                }
                if n == '\'' {
                    let hex: String = chars.iter().skip(i + 1).take(2).collect();
                    i += 3;
                    if let Ok(b) = u8::from_str_radix(&hex, 16) {
                        if skip_fallback > 0 {
                            skip_fallback -= 1;
                        } else if !style.skip {
                            w.text(cp1252(b), style);
                        }
                    }
                    continue;
                }
                if n == '*' {
                    style.skip = true;
                    i += 1;
                    continue;
                }
                if n == '~' {
                    if !style.skip {
                        w.text('\u{a0}', style);
                    }
                    i += 1;
                    continue;
                }
                if !n.is_ascii_alphabetic() {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < chars.len() && chars[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let num_start = i;
                if i < chars.len() && chars[i] == '-' {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let param: Option<i64> =
                    chars[num_start..i].iter().collect::<String>().parse().ok();
                if i < chars.len() && chars[i] == ' ' {
                    i += 1;
                }
                match word.as_str() {
                    "fonttbl" | "colortbl" | "stylesheet" | "info" | "pict" | "header"
                    | "footer" | "listtable" | "listoverridetable" => style.skip = true,
                    "par" if !style.skip => w.paragraph(),
                    "line" if !style.skip => {
                        w.close_all();
                        w.current.push_str("<br>");
                    }
                    "tab" if !style.skip => w.text(' ', style),
                    "b" => style.bold = param != Some(0),
                    "i" => style.italic = param != Some(0),
                    "ul" => style.underline = param != Some(0),
                    "ulnone" => style.underline = false,
                    "plain" => {
                        style.bold = false;
                        style.italic = false;
                        style.underline = false;
                    }
                    "u" => {
                        if let Some(code) = param {
                            // Negative values are code points above 32767 written as i16.
                            let cp = if code < 0 { code + 65536 } else { code };
                            if let Some(ch) = u32::try_from(cp).ok().and_then(char::from_u32) {
                                if !style.skip {
                                    w.text(ch, style);
                                }
                            }
                            skip_fallback = 1;
                        }
                    }
                    _ => {}
                }
            }
            '\r' | '\n' => i += 1,
            _ => {
                if skip_fallback > 0 {
                    skip_fallback -= 1;
                } else if !style.skip {
                    w.text(c, style);
                }
                i += 1;
            }
        }
    }
    w.paragraph();
    w.paragraphs
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{p}</p>"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn rtf_paragraphs_styles_and_accents_become_html() {
        let rtf = r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fnil Tahoma;}}{\colortbl ;\red0\green0\blue0;}
\viewkind4\uc1\pard\f0\fs16 Tapis \b tiss\'e9 main\b0  en laine.\par
Lavable \i 30\'b0C\i0 .\line Prix : 189 \u8364?\par
}";
        assert_eq!(
            to_html(rtf),
            "<p>Tapis <strong>tissé main</strong> en laine.</p>\n<p>Lavable <em>30°C</em>.<br>Prix : 189 €</p>"
        );
    }

    #[test]
    fn ignorable_destinations_and_escapes() {
        let rtf = r"{\rtf1{\*\generator Msftedit;}A \{x\} \\ <b>&\par}";
        assert_eq!(to_html(rtf), "<p>A {x} \\ &lt;b&gt;&amp;</p>");
    }

    #[test]
    fn plain_text_is_escaped_with_its_line_breaks() {
        assert_eq!(
            to_html("Ligne 1\nLigne <2>\n\nSuite"),
            "<p>Ligne 1<br>Ligne &lt;2&gt;</p>\n<p>Suite</p>"
        );
        assert_eq!(to_html("   "), "");
    }
}
