//! The `compare` tool, run in-process at a tiny size: the JSON it writes is
//! a well-formed array with a record per workload, each with the keys the
//! docs promise and numbers where numbers belong; the SVG and the table
//! name every workload. The figures themselves are not checked.

use evloop_benches::compare::{self, Launcher, Options, Size};

/// Every workload `cargo compare` runs.
const WORKLOADS: &[&str] = &[
    "spawn_join",
    "spawn_join_warm",
    "call_soon",
    "call_soon_warm",
    "call_soon_timer_pending",
    "ping_pong",
    "ping_pong_timer_pending",
    "queue_ping_pong",
    "semaphore_contended",
    "timers_random",
    "timers_random_1m",
    "timers_random_cb",
    "timer_cancel",
    "timeout_ready",
    "timer_lateness_p99",
    "threadsafe_1p",
    "threadsafe_2p",
    "channel_from_threads_1p",
    "channel_from_threads_4p",
    "xthread_rtt_p50",
    "xthread_rtt_p99",
    "xthread_rtt_p50_spin",
    "executor_seq",
    "executor_seq_spin",
    "executor_concurrent",
    "executor_concurrent_default",
    "tcp_echo_1",
    "tcp_echo_50",
    "tcp_bulk",
    "udp_ping_pong",
    "process_spawn_wait",
    "process_spawn_wait_100",
    "hyper_http1_rps_1",
    "hyper_http1_rps_50",
    "mem_task_event",
    "mem_task_sleep",
];

const REPS: usize = 2;

/// Whether the workload has a hand-written floor beside it (the task and
/// callback workloads, in every setting).
fn has_floor(name: &str) -> bool {
    ["spawn_join", "call_soon", "ping_pong"]
        .iter()
        .any(|base| name.starts_with(base))
}

/// The memory workloads re-execute this test binary with this test
/// selected and the measurement in an environment variable; in a normal
/// run it does nothing.
#[test]
fn mem_child() {
    compare::child_main_if_requested();
}

#[test]
fn tiny_run_writes_json_and_svg_for_every_workload() {
    let dir = std::env::temp_dir().join(format!("evloop-compare-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json_path, svg_path) = (dir.join("compare.json"), dir.join("compare.svg"));
    let opts = Options {
        size: Size::Tiny,
        reps: REPS,
        json: Some(json_path.clone()),
        svg: Some(svg_path.clone()),
        launcher: Launcher::Env(
            ["mem_child", "--exact", "--nocapture", "--test-threads=1"]
                .map(String::from)
                .to_vec(),
        ),
        progress: false,
        ..Options::default()
    };
    let records = compare::run(&opts).unwrap();
    let names: Vec<&str> = records.iter().map(|r| r.spec.name).collect();
    assert_eq!(names, WORKLOADS);

    let text = std::fs::read_to_string(&json_path).unwrap();
    let Json::Arr(items) = parse(&text) else {
        panic!("not a JSON array: {text}");
    };
    assert_eq!(items.len(), WORKLOADS.len());
    for (item, &name) in items.iter().zip(WORKLOADS) {
        let field = |key: &str| {
            item.get(key)
                .unwrap_or_else(|| panic!("{name}: no key {key:?} in {item:?}"))
        };
        assert_eq!(field("workload"), &Json::Str(name.to_owned()));
        assert!(matches!(field("unit"), Json::Str(u) if !u.is_empty()));
        assert!(matches!(field("better"), Json::Str(b) if b == "lower" || b == "higher"));
        for side in ["evloop", "tokio"] {
            let Json::Arr(values) = field(side) else {
                panic!("{name}: {side} is not an array");
            };
            assert_eq!(values.len(), REPS, "{name}: {side}");
            assert!(
                values.iter().all(|v| matches!(v, Json::Num(_))),
                "{name}: {side}"
            );
        }
        for key in ["evloop_median", "tokio_median", "ratio"] {
            assert!(
                matches!(field(key), Json::Num(_)),
                "{name}: {key} = {:?}",
                field(key)
            );
        }
        assert!(
            matches!(field("target"), Json::Num(_) | Json::Null),
            "{name}: target = {:?}",
            field("target")
        );
        assert!(matches!(field("extra"), Json::Obj(_)), "{name}: extra");
        assert!(
            matches!(field("tokio_form"), Json::Str(f) if !f.is_empty()),
            "{name}: tokio_form"
        );
        let Json::Obj(others) = field("tokio_others") else {
            panic!("{name}: tokio_others is not an object");
        };
        assert!(others.iter().all(|(_, m)| matches!(m, Json::Num(_))));
        let Json::Arr(floor) = field("floor") else {
            panic!("{name}: floor is not an array");
        };
        if has_floor(name) {
            assert_eq!(floor.len(), REPS, "{name}: floor");
            assert!(matches!(field("floor_distance"), Json::Num(d) if *d > 0.0));
        } else {
            assert!(floor.is_empty(), "{name}: a floor");
            assert_eq!(field("floor_distance"), &Json::Null, "{name}");
        }
    }
    // Where a workload spawns tasks, both of tokio's forms ran: the one
    // reported and the other in `tokio_others`.
    for (item, &name) in items.iter().zip(WORKLOADS) {
        if name.starts_with("spawn_join") || name.starts_with("ping_pong") {
            let Some(Json::Obj(others)) = item.get("tokio_others") else {
                panic!("{name}: tokio_others");
            };
            assert_eq!(others.len(), 1, "{name}: the other form");
        }
    }

    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let table = compare::table(&records);
    for name in WORKLOADS {
        assert!(svg.contains(&format!(">{name}<")), "{name} not in the SVG");
        assert!(
            table.contains(&format!("`{name}`")),
            "{name} not in the table"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_writer_output_parses() {
    // Strings that need escaping survive the round trip through the parser.
    let s = "a\"b\\c\nd\te\u{1}µs ↓";
    assert_eq!(parse(&compare::json_string(s)), Json::Str(s.to_owned()));
}

// ---- a minimal JSON parser (no dependency) ----------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses a whole JSON document; panics on anything malformed.
fn parse(text: &str) -> Json {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, p.s.len(), "trailing characters at {}", p.i);
    v
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
    }

    fn peek(&self) -> u8 {
        *self.s.get(self.i).expect("unexpected end of JSON")
    }

    fn expect(&mut self, lit: &str) {
        assert!(
            self.s[self.i..].starts_with(lit.as_bytes()),
            "expected {lit:?} at {}",
            self.i
        );
        self.i += lit.len();
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.peek() {
            b'n' => {
                self.expect("null");
                Json::Null
            }
            b't' => {
                self.expect("true");
                Json::Bool(true)
            }
            b'f' => {
                self.expect("false");
                Json::Bool(false)
            }
            b'"' => Json::Str(self.string()),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == b']' {
                    self.i += 1;
                    return Json::Arr(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    match self.peek() {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Json::Arr(items);
                        }
                        c => panic!("expected , or ] at {}, found {:?}", self.i, c as char),
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.peek() == b'}' {
                    self.i += 1;
                    return Json::Obj(fields);
                }
                loop {
                    self.ws();
                    let key = self.string();
                    self.ws();
                    self.expect(":");
                    fields.push((key, self.value()));
                    self.ws();
                    match self.peek() {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Json::Obj(fields);
                        }
                        c => panic!("expected , or }} at {}, found {:?}", self.i, c as char),
                    }
                }
            }
            _ => Json::Num(self.number()),
        }
    }

    fn number(&mut self) -> f64 {
        let start = self.i;
        if self.peek() == b'-' {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            assert!(p.i > from, "expected digits at {from}");
        };
        if self.peek() == b'0' {
            self.i += 1;
        } else {
            digits(self);
        }
        if self.i < self.s.len() && self.s[self.i] == b'.' {
            self.i += 1;
            digits(self);
        }
        if self.i < self.s.len() && matches!(self.s[self.i], b'e' | b'E') {
            self.i += 1;
            if matches!(self.peek(), b'+' | b'-') {
                self.i += 1;
            }
            digits(self);
        }
        std::str::from_utf8(&self.s[start..self.i])
            .unwrap()
            .parse()
            .unwrap()
    }

    fn string(&mut self) -> String {
        self.expect("\"");
        let mut out = Vec::new();
        loop {
            let c = self.peek();
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).expect("UTF-8 string"),
                b'\\' => {
                    let e = self.peek();
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                            self.i += 4;
                            char::from_u32(u32::from_str_radix(hex, 16).unwrap())
                                .expect("a scalar value (no surrogates here)")
                        }
                        _ => panic!("bad escape \\{} at {}", e as char, self.i),
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c if c < 0x20 => panic!("raw control character in a string at {}", self.i),
                c => out.push(c),
            }
        }
    }
}
