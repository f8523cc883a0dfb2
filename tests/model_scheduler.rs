//! The scheduler against a reference model: a seeded generator drives a
//! random mix of `call_soon`, `call_later`, `call_at`, tasks that yield,
//! sleep, spawn and await children, `Handle::cancel`, `TimerHandle::cancel`
//! and `Task::cancel`, for thousands of operations per seed; every callback
//! run, task step, cancellation result, the iteration each ran in and the
//! (virtual) time it ran at must match a plain model written from the rules
//! below, entry for entry.
//!
//! # The rules, as the model states them
//!
//! One iteration:
//!
//! 1. if the ready queue is empty, the virtual clock jumps to the earliest
//!    pending timer (`Core::advance_virtual_clock`);
//! 2. every pending timer whose *firing time* has been reached expires, the
//!    batch in (deadline, insertion) order: a callback timer joins the back
//!    of the ready queue, a `sleep` wakes its task at once (onto the back of
//!    the queue, unless it is queued already);
//! 3. exactly the entries in the queue at this point run (the snapshot
//!    rule): a cancelled callback or timer, or a finished task, is skipped;
//!    what they schedule runs in the next iteration.
//!
//! The firing time of a timer with deadline `d` (nanoseconds since the loop
//! started; `call_later(x)` is `now + x`) is `ceil(d / tick) * tick`: never
//! early, rounded up to the 1 ms tick. Virtual time only ever sits on tick
//! boundaries (it jumps to firing times), so a deadline at or before `now`
//! is due at once.
//!
//! Tasks: `ensure_future` queues the task at once; `yield_now` queues it
//! again from inside its poll; a task is queued at most once however often
//! it is woken; `Task::cancel` marks it and queues it if not queued, and at
//! its turn its future is dropped instead of polled (a `sleep` timer it held
//! is removed then, not at `cancel()`); a finished (or cancelled) task wakes
//! the task awaiting it, onto the back of the queue.
//!
//! # Where evloop differs from asyncio (and the model follows evloop)
//!
//! - Timers are rounded *up* to the tick: asyncio runs a timer whose `when`
//!   is within `clock_resolution` of now, so it may run slightly early;
//!   evloop never does, and may run up to one tick late.
//! - Equal deadlines run in insertion order. asyncio's heap of `TimerHandle`s
//!   compares `when` only, and `heapq` is not stable.
//! - A `sleep` that expires wakes its task in the timers phase, so the task
//!   runs in that same iteration. asyncio's `sleep` is a `call_later` that
//!   resolves a future, whose done callback then schedules the task: the
//!   task runs one iteration later than the timer.
//! - `Task::cancel` drops the future at the task's next turn; asyncio throws
//!   `CancelledError` into the coroutine there, which may catch it and go on.
//! - A cancelled timer is unlinked at once; asyncio leaves it in its heap
//!   until it surfaces. Not observable here, except that a cancelled timer
//!   never makes the (virtual) clock move.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use evloop::{EventLoop, Handle, Task, TimerHandle};

const MS: u64 = 1_000_000;
const TICK: u64 = MS;
/// Far past any deadline the generator makes (the longest chains of day-long
/// timers add up to weeks): when it fires, everything else is done. Beyond
/// the wheel's range (795 days), so it waits in the overflow map.
const SENTINEL_AT: u64 = 2_000 * 86_400 * 1_000 * MS;
const SENTINEL: u32 = u32::MAX;
const ROOT: u32 = 0;

// ---- the generator ---------------------------------------------------------

/// splitmix64: a tiny seeded generator (no crate needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One thing a callback or a task step does to the loop.
#[derive(Debug, Clone, Copy)]
enum Action {
    Soon(u32),
    Later(u32, u64),
    /// `call_at` with an absolute deadline, possibly in the past.
    At(u32, u64),
    Spawn(u32),
    /// Cancel the `k`th handle of its kind, in creation order.
    CancelHandle(usize),
    CancelTimer(usize),
    CancelTask(usize),
}

/// What a task does at the end of a step.
#[derive(Debug, Clone, Copy)]
enum Next {
    Yield,
    Sleep(u64),
    /// Spawn this child and await it.
    Join(u32),
    Finish,
}

/// The random decisions, identical for the loop and the model: both call it
/// in the order things run, so as long as they agree on that order they
/// draw the same numbers (and the first disagreement is what the test
/// reports).
struct Planner {
    rng: Rng,
    next_id: u32,
    budget: u32,
    handles: usize,
    timers: usize,
    tasks: usize,
}

impl Planner {
    fn new(seed: u64, budget: u32) -> Planner {
        Planner {
            rng: Rng(seed),
            next_id: ROOT + 1,
            budget,
            handles: 0,
            timers: 0,
            tasks: 0,
        }
    }

    fn id(&mut self) -> Option<u32> {
        (self.next_id < self.budget).then(|| {
            self.next_id += 1;
            self.next_id - 1
        })
    }

    /// A delay: often zero, within a tick, or a few ticks (so that deadlines
    /// tie and share ticks), sometimes seconds, rarely a day.
    fn delay(&mut self) -> u64 {
        match self.rng.below(16) {
            0 | 1 => 0,
            2..=4 => self.rng.below(TICK),
            5..=8 => self.rng.below(5) * TICK,
            9..=11 => self.rng.below(5) * TICK + self.rng.below(TICK),
            12 | 13 => self.rng.below(300 * TICK),
            14 => self.rng.below(100_000 * TICK),
            _ if self.rng.below(8) == 0 => self.rng.below(86_400_000 * TICK),
            _ => TICK,
        }
    }

    /// 0 to 2 actions.
    fn actions(&mut self, now: u64) -> Vec<Action> {
        let n = self.rng.below(3);
        (0..n).filter_map(|_| self.action(now)).collect()
    }

    /// Only creations: the root's initial work.
    fn creations(&mut self, now: u64, n: usize) -> Vec<Action> {
        (0..n).filter_map(|_| self.create(now)).collect()
    }

    fn action(&mut self, now: u64) -> Option<Action> {
        match self.rng.below(10) {
            0..=6 => self.create(now),
            7 => Some(Action::CancelHandle(pick(&mut self.rng, self.handles)?)),
            8 => Some(Action::CancelTimer(pick(&mut self.rng, self.timers)?)),
            _ => Some(Action::CancelTask(pick(&mut self.rng, self.tasks)?)),
        }
    }

    fn create(&mut self, now: u64) -> Option<Action> {
        let kind = self.rng.below(5);
        let id = self.id()?;
        Some(match kind {
            0 => {
                self.handles += 1;
                Action::Soon(id)
            }
            1 | 2 => {
                self.timers += 1;
                Action::Later(id, self.delay())
            }
            3 => {
                self.timers += 1;
                let when = if self.rng.below(3) == 0 {
                    now.saturating_sub(self.rng.below(10 * TICK))
                } else {
                    now + self.delay()
                };
                Action::At(id, when)
            }
            _ => {
                self.tasks += 1;
                Action::Spawn(id)
            }
        })
    }

    /// What a task does after step `step` (counted from 0).
    fn next(&mut self, step: u32) -> Next {
        if step >= 6 {
            return Next::Finish;
        }
        match self.rng.below(10) {
            0 | 1 => Next::Yield,
            2..=5 => Next::Sleep(self.delay()),
            6 | 7 => match self.id() {
                Some(id) => {
                    self.tasks += 1;
                    Next::Join(id)
                }
                None => Next::Finish,
            },
            _ => Next::Finish,
        }
    }
}

/// A random index below `len`, often one of the latest (more likely still
/// pending); `None` if there is nothing to pick.
fn pick(rng: &mut Rng, len: usize) -> Option<usize> {
    if len == 0 {
        return None;
    }
    let len = len as u64;
    let window = if rng.below(2) == 0 { len.min(16) } else { len };
    Some((len - 1 - rng.below(window)) as usize)
}

// ---- what both sides record ------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    /// A `call_soon` callback (or the root) ran.
    Soon(u32),
    /// A `call_later` / `call_at` callback ran.
    Timer(u32),
    /// A task resumed for step `step`; `joined` is its child's outcome
    /// (`true`: finished, `false`: cancelled) if it was awaiting one.
    Step {
        task: u32,
        step: u32,
        joined: Option<bool>,
    },
    End(u32),
    /// A cancelled task's future was dropped.
    Dropped(u32),
    CancelHandle(usize, bool),
    CancelTimer(usize, bool),
    /// `None`: the task handle is gone (its parent was cancelled).
    CancelTask(usize, Option<bool>),
    Sentinel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ev {
    iteration: u64,
    time: u64,
    what: What,
}

/// Counters checked against the loop's `Stats` at the end.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    callbacks_run: u64,
    tasks_polled: u64,
    timers_fired: u64,
}

// ---- the real loop ---------------------------------------------------------

/// A task handle: owned here for spawned tasks; a joined child's handle is
/// owned by its parent (so that cancelling the parent drops it, which
/// detaches the child), and only watched from here.
enum TaskRef {
    Owned(Rc<RefCell<Task<()>>>),
    Joined(Weak<RefCell<Task<()>>>),
}

struct Real {
    planner: RefCell<Planner>,
    log: RefCell<Vec<Ev>>,
    handles: RefCell<Vec<Handle>>,
    timers: RefCell<Vec<TimerHandle>>,
    tasks: RefCell<Vec<TaskRef>>,
    start: Instant,
}

impl Real {
    fn record(&self, what: What) {
        let lp = EventLoop::current();
        let time = (lp.time() - self.start).as_nanos() as u64;
        let iteration = lp.stats().iterations;
        self.log.borrow_mut().push(Ev {
            iteration,
            time,
            what,
        });
    }

    fn now(&self) -> u64 {
        (EventLoop::current().time() - self.start).as_nanos() as u64
    }

    fn root(self: &Rc<Self>) {
        self.record(What::Soon(ROOT));
        let lp = EventLoop::current();
        let at = self.start + Duration::from_nanos(SENTINEL_AT);
        let real = self.clone();
        // Not in `timers`: nothing may cancel it.
        drop(lp.call_at(at, move || real.sentinel()).unwrap());
        let actions = self.planner.borrow_mut().creations(0, 24);
        self.perform(&actions);
    }

    fn sentinel(&self) {
        self.record(What::Sentinel);
        EventLoop::current().stop();
    }

    fn act(self: &Rc<Self>) {
        let actions = self.planner.borrow_mut().actions(self.now());
        self.perform(&actions);
    }

    fn perform(self: &Rc<Self>, actions: &[Action]) {
        let lp = EventLoop::current();
        for &action in actions {
            let real = self.clone();
            match action {
                Action::Soon(id) => {
                    let h = lp.call_soon(move || real.callback(What::Soon(id)));
                    self.handles.borrow_mut().push(h.unwrap());
                }
                Action::Later(id, delay) => {
                    let d = Duration::from_nanos(delay);
                    let h = lp.call_later(d, move || real.callback(What::Timer(id)));
                    self.timers.borrow_mut().push(h.unwrap());
                }
                Action::At(id, when) => {
                    let at = self.start + Duration::from_nanos(when);
                    let h = lp.call_at(at, move || real.callback(What::Timer(id)));
                    self.timers.borrow_mut().push(h.unwrap());
                }
                Action::Spawn(id) => {
                    let task = evloop::ensure_future(task_body(real, id));
                    let task = Rc::new(RefCell::new(task));
                    self.tasks.borrow_mut().push(TaskRef::Owned(task));
                }
                Action::CancelHandle(k) => {
                    let done = self.handles.borrow()[k].cancel();
                    self.record(What::CancelHandle(k, done));
                }
                Action::CancelTimer(k) => {
                    let done = self.timers.borrow()[k].cancel();
                    self.record(What::CancelTimer(k, done));
                }
                Action::CancelTask(k) => {
                    let task = match &self.tasks.borrow()[k] {
                        TaskRef::Owned(t) => Some(t.clone()),
                        TaskRef::Joined(t) => t.upgrade(),
                    };
                    let done = task.map(|t| t.borrow().cancel());
                    self.record(What::CancelTask(k, done));
                }
            }
        }
    }

    fn callback(self: &Rc<Self>, what: What) {
        self.record(what);
        self.act();
    }

    /// One task step: record it, act, decide what to await.
    fn step(self: &Rc<Self>, task: u32, step: u32, joined: Option<bool>) -> Next {
        self.record(What::Step { task, step, joined });
        self.act();
        self.planner.borrow_mut().next(step)
    }
}

/// Records `Dropped` if the task's future goes before it finished (made
/// outside the `async` block, so a task cancelled before its first poll
/// records it too).
struct DropGuard {
    real: Rc<Real>,
    id: u32,
    finished: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.real.record(What::Dropped(self.id));
        }
    }
}

fn task_body(real: Rc<Real>, id: u32) -> impl Future<Output = ()> {
    let guard = DropGuard {
        real: real.clone(),
        id,
        finished: false,
    };
    async move {
        let mut guard = guard;
        let mut joined = None;
        for step in 0.. {
            match real.step(id, step, joined.take()) {
                Next::Yield => evloop::yield_now().await,
                Next::Sleep(d) => evloop::sleep(Duration::from_nanos(d)).await,
                Next::Join(child) => {
                    let task = evloop::ensure_future(task_body(real.clone(), child));
                    let task = Rc::new(RefCell::new(task));
                    let watch = TaskRef::Joined(Rc::downgrade(&task));
                    real.tasks.borrow_mut().push(watch);
                    // Borrowed only inside each poll: others may cancel it
                    // between polls.
                    let outcome =
                        std::future::poll_fn(|cx| Pin::new(&mut *task.borrow_mut()).poll(cx)).await;
                    joined = Some(outcome.is_ok());
                    drop(task);
                }
                Next::Finish => break,
            }
        }
        real.record(What::End(id));
        guard.finished = true;
    }
}

fn run_real(seed: u64, budget: u32) -> (Vec<Ev>, Counts) {
    let lp = EventLoop::builder().virtual_time().build().unwrap();
    let real = Rc::new(Real {
        planner: RefCell::new(Planner::new(seed, budget)),
        log: RefCell::default(),
        handles: RefCell::default(),
        timers: RefCell::default(),
        tasks: RefCell::default(),
        start: lp.time(),
    });
    let r = real.clone();
    lp.call_soon(move || r.root()).unwrap();
    lp.run_forever().unwrap();
    let stats = lp.stats();
    lp.close().unwrap();
    let log = real.log.take();
    real.tasks.borrow_mut().clear();
    let counts = Counts {
        callbacks_run: stats.callbacks_run,
        tasks_polled: stats.tasks_polled,
        timers_fired: stats.timers_fired,
    };
    (log, counts)
}

// ---- the model -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Entry {
    Soon(u32),
    Timer(u32),
    Task(u32),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CbState {
    Queued,
    Ran,
    Cancelled,
}

/// A pending timer's place: (firing time, deadline, insertion number).
type TimerKey = (u64, u64, u64);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TimerState {
    Pending(TimerKey),
    Queued,
    Ran,
    Cancelled,
}

#[derive(Clone, Copy, Debug)]
enum TimerOwner {
    Callback(u32),
    Sleep(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    Start,
    Yield,
    Sleep(TimerKey),
    Join(u32),
}

#[derive(Debug)]
struct TaskState {
    scheduled: bool,
    complete: bool,
    /// Finished normally (not cancelled).
    ok: bool,
    cancel_requested: bool,
    wait: Wait,
    step: u32,
    joiner: Option<u32>,
    /// Whether a `Task` handle still exists to cancel it through.
    handle: bool,
}

struct Model {
    planner: Planner,
    now: u64,
    iteration: u64,
    seq: u64,
    ready: VecDeque<Entry>,
    pending: BTreeMap<TimerKey, TimerOwner>,
    soons: BTreeMap<u32, CbState>,
    timers: BTreeMap<u32, TimerState>,
    tasks: BTreeMap<u32, TaskState>,
    /// Ids in handle-creation order, as `Real`'s vectors.
    handle_ids: Vec<u32>,
    timer_ids: Vec<u32>,
    task_ids: Vec<u32>,
    log: Vec<Ev>,
    counts: Counts,
    stopped: bool,
}

impl Model {
    fn new(seed: u64, budget: u32) -> Model {
        let mut m = Model {
            planner: Planner::new(seed, budget),
            now: 0,
            iteration: 0,
            seq: 0,
            ready: VecDeque::new(),
            pending: BTreeMap::new(),
            soons: BTreeMap::new(),
            timers: BTreeMap::new(),
            tasks: BTreeMap::new(),
            handle_ids: Vec::new(),
            timer_ids: Vec::new(),
            task_ids: Vec::new(),
            log: Vec::new(),
            counts: Counts::default(),
            stopped: false,
        };
        m.soons.insert(ROOT, CbState::Queued);
        m.ready.push_back(Entry::Soon(ROOT));
        m
    }

    fn record(&mut self, what: What) {
        let (iteration, time) = (self.iteration, self.now);
        self.log.push(Ev {
            iteration,
            time,
            what,
        });
    }

    fn run(mut self) -> (Vec<Ev>, Counts, Model) {
        while !self.stopped {
            self.iterate();
        }
        (
            std::mem::take(&mut self.log),
            std::mem::take(&mut self.counts),
            self,
        )
    }

    fn iterate(&mut self) {
        self.iteration += 1;
        if self.ready.is_empty() {
            let (&(fire_at, ..), _) = self.pending.first_key_value().expect("idle forever");
            self.now = self.now.max(fire_at);
        }
        self.fire_timers();
        for _ in 0..self.ready.len() {
            let entry = self.ready.pop_front().unwrap();
            self.run_entry(entry);
        }
    }

    fn fire_timers(&mut self) {
        let mut due = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            due.push(entry.remove_entry());
        }
        due.sort_by_key(|&((_, deadline, seq), _)| (deadline, seq));
        self.counts.timers_fired += due.len() as u64;
        for (_, owner) in due {
            match owner {
                TimerOwner::Callback(id) => {
                    self.timers.insert(id, TimerState::Queued);
                    self.ready.push_back(Entry::Timer(id));
                }
                TimerOwner::Sleep(task) => self.wake(task),
            }
        }
    }

    fn insert_timer(&mut self, deadline: u64, owner: TimerOwner) -> TimerKey {
        let fire_at = deadline.div_ceil(TICK) * TICK;
        let key = (fire_at, deadline, self.seq);
        self.seq += 1;
        self.pending.insert(key, owner);
        key
    }

    /// A wake: onto the queue unless queued already or complete.
    fn wake(&mut self, id: u32) {
        let task = self.tasks.get_mut(&id).unwrap();
        if !task.complete && !task.scheduled {
            task.scheduled = true;
            self.ready.push_back(Entry::Task(id));
        }
    }

    fn run_entry(&mut self, entry: Entry) {
        match entry {
            Entry::Soon(id) => {
                if self.soons[&id] == CbState::Cancelled {
                    return;
                }
                self.soons.insert(id, CbState::Ran);
                self.counts.callbacks_run += 1;
                self.record(What::Soon(id));
                if id == ROOT {
                    self.insert_timer(SENTINEL_AT, TimerOwner::Callback(SENTINEL));
                    let actions = self.planner.creations(0, 24);
                    self.perform(&actions);
                } else {
                    self.act();
                }
            }
            Entry::Timer(id) => {
                if self.timers[&id] == TimerState::Cancelled {
                    return;
                }
                self.timers.insert(id, TimerState::Ran);
                self.counts.callbacks_run += 1;
                if id == SENTINEL {
                    self.record(What::Sentinel);
                    self.stopped = true;
                } else {
                    self.record(What::Timer(id));
                    self.act();
                }
            }
            Entry::Task(id) => self.poll(id),
        }
    }

    fn act(&mut self) {
        let actions = self.planner.actions(self.now);
        self.perform(&actions);
    }

    fn perform(&mut self, actions: &[Action]) {
        for &action in actions {
            match action {
                Action::Soon(id) => {
                    self.soons.insert(id, CbState::Queued);
                    self.ready.push_back(Entry::Soon(id));
                    self.handle_ids.push(id);
                }
                Action::Later(id, delay) => self.add_timer(id, self.now + delay),
                Action::At(id, when) => self.add_timer(id, when),
                Action::Spawn(id) => self.spawn(id, None),
                Action::CancelHandle(k) => {
                    let id = self.handle_ids[k];
                    let queued = self.soons[&id] == CbState::Queued;
                    if queued {
                        self.soons.insert(id, CbState::Cancelled);
                    }
                    self.record(What::CancelHandle(k, queued));
                }
                Action::CancelTimer(k) => {
                    let id = self.timer_ids[k];
                    let done = match self.timers[&id] {
                        TimerState::Pending(key) => {
                            self.pending.remove(&key);
                            true
                        }
                        TimerState::Queued => true,
                        TimerState::Ran | TimerState::Cancelled => false,
                    };
                    if done {
                        self.timers.insert(id, TimerState::Cancelled);
                    }
                    self.record(What::CancelTimer(k, done));
                }
                Action::CancelTask(k) => {
                    let id = self.task_ids[k];
                    let done = self.cancel_task(id);
                    self.record(What::CancelTask(k, done));
                }
            }
        }
    }

    fn add_timer(&mut self, id: u32, deadline: u64) {
        let key = self.insert_timer(deadline, TimerOwner::Callback(id));
        self.timers.insert(id, TimerState::Pending(key));
        self.timer_ids.push(id);
    }

    fn spawn(&mut self, id: u32, joiner: Option<u32>) {
        self.tasks.insert(
            id,
            TaskState {
                scheduled: true,
                complete: false,
                ok: false,
                cancel_requested: false,
                wait: Wait::Start,
                step: 0,
                joiner,
                handle: true,
            },
        );
        self.ready.push_back(Entry::Task(id));
        self.task_ids.push(id);
    }

    fn cancel_task(&mut self, id: u32) -> Option<bool> {
        let task = self.tasks.get_mut(&id).unwrap();
        if !task.handle {
            return None;
        }
        if task.complete {
            return Some(false);
        }
        task.cancel_requested = true;
        self.wake(id);
        Some(true)
    }

    fn poll(&mut self, id: u32) {
        let task = self.tasks.get_mut(&id).unwrap();
        if task.complete {
            return; // a stale entry
        }
        task.scheduled = false;
        self.counts.tasks_polled += 1;
        if task.cancel_requested {
            return self.drop_future(id);
        }
        let joined = match task.wait {
            Wait::Start | Wait::Yield => None,
            Wait::Sleep(key) => {
                assert!(!self.pending.contains_key(&key), "task {id}: polled asleep");
                None
            }
            Wait::Join(child) => {
                let child = self.tasks.get_mut(&child).unwrap();
                assert!(
                    child.complete,
                    "task {id}: polled before its child finished"
                );
                child.handle = false; // the parent drops it once awaited
                Some(child.ok)
            }
        };
        let step = self.tasks[&id].step;
        self.record(What::Step {
            task: id,
            step,
            joined,
        });
        self.tasks.get_mut(&id).unwrap().step += 1;
        self.act();
        let wait = match self.planner.next(step) {
            Next::Yield => {
                self.wake(id);
                Wait::Yield
            }
            Next::Sleep(d) => Wait::Sleep(self.insert_timer(self.now + d, TimerOwner::Sleep(id))),
            Next::Join(child) => {
                self.spawn(child, Some(id));
                Wait::Join(child)
            }
            Next::Finish => {
                self.record(What::End(id));
                self.tasks.get_mut(&id).unwrap().ok = true;
                return self.finish(id);
            }
        };
        self.tasks.get_mut(&id).unwrap().wait = wait;
    }

    /// A cancelled task's turn: its future goes, with what it held.
    fn drop_future(&mut self, id: u32) {
        self.record(What::Dropped(id));
        match self.tasks[&id].wait {
            Wait::Sleep(key) => drop(self.pending.remove(&key)),
            Wait::Join(child) => {
                // The child's handle goes with the parent's future: the
                // child runs on, detached.
                let child = self.tasks.get_mut(&child).unwrap();
                child.handle = false;
                child.joiner = None;
            }
            Wait::Start | Wait::Yield => {}
        }
        self.finish(id);
    }

    fn finish(&mut self, id: u32) {
        let task = self.tasks.get_mut(&id).unwrap();
        task.complete = true;
        if let Some(parent) = task.joiner.take() {
            self.wake(parent);
        }
    }
}

// ---- the comparison --------------------------------------------------------

/// Iteration numbers renumbered densely: the loop counts iterations in which
/// nothing ran (an early wake-up of the wheel, a batch of cancelled
/// entries), the model does not need to.
fn normalize(log: &[Ev]) -> Vec<Ev> {
    let mut out = Vec::with_capacity(log.len());
    let (mut last, mut rank) = (None, 0);
    for ev in log {
        if last != Some(ev.iteration) {
            last = Some(ev.iteration);
            rank += 1;
        }
        out.push(Ev {
            iteration: rank,
            ..ev.clone()
        });
    }
    out
}

fn check_seed(seed: u64, budget: u32) {
    let (real, real_counts) = run_real(seed, budget);
    let (model, model_counts, end) = Model::new(seed, budget).run();
    let (real, model) = (normalize(&real), normalize(&model));
    if let Some(i) = (0..real.len().max(model.len())).find(|&i| real.get(i) != model.get(i)) {
        let from = i.saturating_sub(5);
        panic!(
            "seed {seed}: first difference at event {i}\n  loop:  {:#?}\n  model: {:#?}",
            &real[from..real.len().min(i + 3)],
            &model[from..model.len().min(i + 3)],
        );
    }
    assert_eq!(real_counts, model_counts, "seed {seed}: loop stats");
    // The sentinel was the last thing: the generator's work all finished.
    assert!(
        end.ready.is_empty() && end.pending.is_empty(),
        "seed {seed}"
    );
    assert!(end.tasks.values().all(|t| t.complete), "seed {seed}");
    // Enough of every kind happened for the comparison to mean something
    // (a guard against an edit of the planner that makes it vacuous).
    let count = |f: fn(&What) -> bool| real.iter().filter(|e| f(&e.what)).count();
    let kinds = [
        ("timer callbacks", count(|w| matches!(w, What::Timer(_)))),
        ("task steps", count(|w| matches!(w, What::Step { .. }))),
        (
            "handles cancelled",
            count(|w| matches!(w, What::CancelHandle(_, true))),
        ),
        (
            "timers cancelled",
            count(|w| matches!(w, What::CancelTimer(_, true))),
        ),
        (
            "tasks cancelled",
            count(|w| matches!(w, What::CancelTask(_, Some(true)))),
        ),
        ("futures dropped", count(|w| matches!(w, What::Dropped(_)))),
        (
            "cancelled children awaited",
            count(|w| {
                matches!(
                    w,
                    What::Step {
                        joined: Some(false),
                        ..
                    }
                )
            }),
        ),
    ];
    for (kind, n) in kinds {
        assert!(n >= 25, "seed {seed}: only {n} {kind}");
    }
    let iterations = real.last().map_or(0, |e| e.iteration);
    assert!(
        iterations >= 500,
        "seed {seed}: only {iterations} iterations"
    );
}

#[test]
fn the_loop_runs_everything_in_the_order_and_at_the_time_the_model_predicts() {
    for seed in 1..=10u64 {
        check_seed(seed.wrapping_mul(0x2545_F491_4F6C_DD1D), 5_000);
    }
}

#[test]
fn the_comparison_ignores_iteration_numbers_but_not_grouping_or_time() {
    let ev = |iteration, time, id| Ev {
        iteration,
        time,
        what: What::Soon(id),
    };
    let loop_log = [ev(3, 0, 1), ev(3, 0, 2), ev(9, TICK, 3)];
    let renumbered = [ev(1, 0, 1), ev(1, 0, 2), ev(2, TICK, 3)];
    assert_eq!(normalize(&loop_log), normalize(&renumbered));
    let split = [ev(1, 0, 1), ev(2, 0, 2), ev(3, TICK, 3)];
    assert_ne!(normalize(&loop_log), normalize(&split));
    let late = [ev(1, 0, 1), ev(1, 0, 2), ev(2, 2 * TICK, 3)];
    assert_ne!(normalize(&loop_log), normalize(&late));
}
