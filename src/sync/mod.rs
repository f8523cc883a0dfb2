//! Loop-local synchronisation primitives, like `asyncio`'s (`Event`), for
//! tasks on one loop. They are `!Send`: one loop, one thread, no locks.

mod event;
pub(crate) mod shim;
pub(crate) mod spin;
pub(crate) mod waiters;

pub use event::{Event, EventWait};
