//! Scenario A of the seed, under virtual time: the exact interleaving and
//! the exact instants that the example's code guarantees.

mod util;

#[path = "../examples/scenario_a.rs"]
mod scenario_a;

use std::rc::Rc;

#[test]
fn scenario_a_transcript() {
    let lp = util::virtual_loop();
    let log = util::Log::new();
    let l = log.clone();
    let out: scenario_a::Out = Rc::new(move |line| l.push(line));
    lp.run_until_complete(scenario_a::scenario(out, std::time::Duration::from_secs(1)))
        .unwrap();
    assert_eq!(
        log.take(),
        [
            "[ 0.0s] main: awaiting compute(7)",
            "[ 0.0s] compute: started",
            "[ 0.0s] task_a: 0",
            "[ 0.0s] call_soon: callback ran",
            "[ 0.0s] side_task: started",
            "[ 1.0s] task_a: 1",
            "[ 1.5s] compute: done",
            "[ 1.5s] main: result 49",
            "[ 2.0s] task_a: 2",
            "[ 2.5s] side_task: finished",
            "[ 3.0s] task_a: 3",
            "[ 4.0s] task_a: 4",
            "[ 5.0s] main: task_a finished, done",
        ]
    );
}
