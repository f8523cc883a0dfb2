//! `gather` with any futures, and `try_gather`.

mod util;

use std::time::Duration;

use util::{virtual_loop, Drops, Log};

#[test]
fn gather_accepts_async_blocks_and_keeps_input_order() {
    let lp = virtual_loop();
    let log = Log::new();
    let l = log.clone();
    let out = lp.run_until_complete(evloop::gather((0..4u64).map(move |i| {
        let log = l.clone();
        // An `async` block is `!Unpin`.
        async move {
            evloop::sleep(Duration::from_secs(4 - i)).await;
            log.push(format!("{i}"));
            i * 10
        }
    })));
    assert_eq!(out.unwrap(), [0, 10, 20, 30]);
    assert_eq!(log.get(), ["3", "2", "1", "0"], "they ran concurrently");
}

#[test]
fn gather_borrows_from_the_caller() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let words = ["a".to_string(), "bc".to_string()];
        evloop::gather(words.iter().map(|w| async move {
            evloop::yield_now().await;
            w.len()
        }))
        .await
    });
    assert_eq!(out.unwrap(), [1, 2]);
}

#[test]
fn gather_of_nothing_is_empty() {
    let lp = virtual_loop();
    let none: Vec<std::future::Ready<u8>> = Vec::new();
    assert_eq!(lp.run_until_complete(evloop::gather(none)).unwrap(), []);
}

#[test]
fn try_gather_returns_every_output_in_input_order() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(evloop::try_gather((0..3u64).map(|i| async move {
        evloop::sleep(Duration::from_secs(3 - i)).await;
        Ok::<_, String>(i)
    })));
    assert_eq!(out.unwrap(), Ok(vec![0, 1, 2]));
}

#[test]
fn try_gather_stops_at_the_first_error_and_drops_the_rest() {
    let lp = virtual_loop();
    let drops = Drops::default();
    let log = Log::new();
    let futures: Vec<_> = (0..4u64)
        .map(|i| {
            let token = drops.token();
            let log = log.clone();
            async move {
                let _token = token;
                // 1 fails after 1 s, 3 after 2 s; 0 and 2 would take an hour.
                match i {
                    1 => evloop::sleep(Duration::from_secs(1)).await,
                    3 => evloop::sleep(Duration::from_secs(2)).await,
                    _ => evloop::sleep(Duration::from_secs(3600)).await,
                }
                log.push(format!("{i} finished"));
                if i % 2 == 1 {
                    Err(format!("{i} failed"))
                } else {
                    Ok(i)
                }
            }
        })
        .collect();
    let counted = drops.clone();
    let out = lp.run_until_complete(async move {
        let result = evloop::try_gather(futures).await;
        // Every future was dropped by the time the error came back.
        (result, counted.count())
    });
    let (result, dropped) = out.unwrap();
    assert_eq!(result, Err("1 failed".to_string()));
    assert_eq!(dropped, 4);
    assert_eq!(
        log.get(),
        ["1 finished"],
        "nothing ran after the first error"
    );
    assert_eq!(
        lp.next_timeout(),
        None,
        "the dropped futures' timers are gone"
    );
}

#[test]
fn try_gather_reports_an_error_that_is_ready_at_once() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(evloop::try_gather([
        Box::pin(async { Ok(1) })
            as std::pin::Pin<Box<dyn std::future::Future<Output = Result<i32, &str>>>>,
        Box::pin(async { Err("bad") }),
        Box::pin(std::future::pending()),
    ]));
    assert_eq!(out.unwrap(), Err("bad"));
}
