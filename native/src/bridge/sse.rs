//! An incremental parser for `text/event-stream` bodies (the WHATWG HTML "event stream
//! interpretation"), fed the chunks of a response as they arrive.
//!
//! Streamable HTTP sends each JSON-RPC message as the `data` of one event; a message may be
//! split across chunks anywhere, even inside a line ending, and may span several `data:` lines.
//! Only what the bridge needs is kept: the data and the last event id (for `Last-Event-ID`
//! when a stream is reopened) and the server's `retry` advice.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field, when one was given (MCP servers send `message` or nothing).
    pub event: Option<String>,
    /// The `data` lines joined with `\n`.
    pub data: String,
}

/// Turns chunks of an event stream into events.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The last chunk ended in `\r`: a `\n` starting the next one belongs to that line end.
    after_cr: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    last_event_id: Option<String>,
    retry_ms: Option<u64>,
}

impl SseParser {
    /// Feeds the next chunk and returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_ended(&line) {
                        events.push(event);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// The id of the last event that set one, to send as `Last-Event-ID` when reopening.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The server's `retry` advice in milliseconds, if it gave one.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Handles one complete line; an empty one dispatches the event being built.
    fn line_ended(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            return None; // a comment, such as a keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.last_event_id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry_ms = Some(ms);
                }
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn an_event_split_across_chunks_anywhere_comes_out_whole() {
        let stream = b"event: message\nid: 7\ndata: {\"jsonrpc\":\"2.0\",\"id\":1}\n\n";
        for cut in 0..stream.len() {
            let mut parser = SseParser::default();
            let (head, tail) = stream.split_at(cut);
            let mut events = parser.push(head);
            events.extend(parser.push(tail));
            assert_eq!(
                data(&events),
                [r#"{"jsonrpc":"2.0","id":1}"#],
                "cut at {cut}"
            );
            assert_eq!(events[0].event.as_deref(), Some("message"));
            assert_eq!(parser.last_event_id(), Some("7"));
        }
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let mut parser = SseParser::default();
        let events = parser.push(b"data: {\ndata:  \"a\": 1\ndata: }\n\n");
        assert_eq!(data(&events), ["{\n \"a\": 1\n}"]);
    }

    #[test]
    fn comments_and_events_without_data_dispatch_nothing() {
        let mut parser = SseParser::default();
        let events = parser.push(b": keep-alive\n\nevent: ping\n\nid: 3\n\nretry: 1500\n\n");
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(parser.last_event_id(), Some("3"));
        assert_eq!(parser.retry_ms(), Some(1500));
    }

    #[test]
    fn crlf_and_lone_cr_end_lines_even_when_split_between_chunks() {
        let mut parser = SseParser::default();
        let mut events = parser.push(b"data: one\r");
        events.extend(parser.push(b"\n\r\ndata: two\r\rdata: three\n\n"));
        assert_eq!(data(&events), ["one", "two", "three"]);
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"data: {\"partial\":").is_empty());
        assert!(parser.push(b"true}\n").is_empty());
        assert_eq!(data(&parser.push(b"\n")), [r#"{"partial":true}"#]);
    }

    #[test]
    fn a_field_without_colon_and_empty_data_count() {
        let mut parser = SseParser::default();
        assert_eq!(data(&parser.push(b"data\n\n")), [""]);
    }
}
