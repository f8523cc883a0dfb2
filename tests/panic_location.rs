//! A function called outside a running loop panics at the caller's line,
//! not inside evloop. A binary of its own: it installs a panic hook.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static WHERE: Mutex<Option<(String, u32)>> = Mutex::new(None);

/// Runs `$call`, which must panic, and checks that the panic names this
/// file and the line of the macro's invocation.
macro_rules! panics_here {
    ($call:expr) => {{
        let result = catch_unwind(AssertUnwindSafe(|| drop($call)));
        assert!(result.is_err(), "{} did not panic", stringify!($call));
        let at = WHERE
            .lock()
            .unwrap()
            .take()
            .expect("the hook saw the panic");
        assert_eq!(at, (file!().to_string(), line!()), "{}", stringify!($call));
    }};
}

#[test]
fn outside_a_loop_the_panic_names_the_callers_line() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().unwrap();
        *WHERE.lock().unwrap() = Some((at.file().to_string(), at.line()));
    }));
    let checks = catch_unwind(|| {
        panics_here!(evloop::sleep(Duration::ZERO));
        panics_here!(evloop::sleep_until(Instant::now()));
        panics_here!(evloop::ensure_future(async {}));
        panics_here!(evloop::wait_for(Duration::ZERO, async {}));
        panics_here!(evloop::EventLoop::current());
    });
    std::panic::set_hook(default);
    if let Err(failure) = checks {
        // The hook above kept the message: show it.
        let message = failure
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "a check failed".into());
        panic!("{message}");
    }
}
