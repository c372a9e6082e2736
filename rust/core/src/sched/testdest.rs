//! Test fixtures for lblc and lblcr: destinations that entries can hold while they sit in
//! the trash, and a growable slab.

use super::locality::{Slot, SlotSlab, SlotVec};
use super::{Dest, DestInfo, HeldDest, HoldDest, InetAddr};
use core::ops::Deref;
use std::cell::RefCell;
use std::rc::Rc;
use std::vec::Vec;

/// A destination as the replay keeps it: shared, so that lblc/lblcr entries can hold it
/// while it sits in the trash, like C's `ip_vs_dest_hold()`.
#[derive(Clone, Debug)]
pub(crate) struct TD(pub(crate) Rc<RefCell<TS>>);

#[derive(Debug)]
pub(crate) struct TS {
    pub(crate) info: DestInfo,
    /// Harness id (order of creation within the scenario).
    pub(crate) id: u32,
    /// `IP_VS_DEST_CF_AVAILABLE`.
    pub(crate) available: bool,
}

impl TD {
    pub(crate) fn new(info: DestInfo, id: u32) -> Self {
        TD(Rc::new(RefCell::new(TS {
            info,
            id,
            available: true,
        })))
    }
    pub(crate) fn id(&self) -> u32 {
        self.0.borrow().id
    }
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut DestInfo) -> R) -> R {
        f(&mut self.0.borrow_mut().info)
    }
}

impl Dest for TD {
    fn weight(&self) -> i32 {
        self.0.borrow().info.weight
    }
    fn last_weight(&self) -> i32 {
        self.0.borrow().info.last_weight
    }
    fn active_conns(&self) -> i32 {
        self.0.borrow().info.active_conns
    }
    fn total_conns(&self) -> i32 {
        self.0.borrow().info.total_conns
    }
    fn overloaded(&self) -> bool {
        self.0.borrow().info.overloaded
    }
    fn addr(&self) -> InetAddr {
        self.0.borrow().info.addr
    }
    fn port(&self) -> u16 {
        self.0.borrow().info.port
    }
}

/// What a handle points to: the shared state, read like C reads a held `ip_vs_dest`.
impl Dest for RefCell<TS> {
    fn weight(&self) -> i32 {
        self.borrow().info.weight
    }
    fn last_weight(&self) -> i32 {
        self.borrow().info.last_weight
    }
    fn active_conns(&self) -> i32 {
        self.borrow().info.active_conns
    }
    fn total_conns(&self) -> i32 {
        self.borrow().info.total_conns
    }
    fn overloaded(&self) -> bool {
        self.borrow().info.overloaded
    }
    fn addr(&self) -> InetAddr {
        self.borrow().info.addr
    }
    fn port(&self) -> u16 {
        self.borrow().info.port
    }
}

impl HeldDest for RefCell<TS> {
    fn available(&self) -> bool {
        self.borrow().available
    }
}

impl Deref for TD {
    type Target = RefCell<TS>;
    fn deref(&self) -> &RefCell<TS> {
        &self.0
    }
}

impl HoldDest for TD {
    type Target = RefCell<TS>;
    type Held = TD;
    fn hold(&self) -> TD {
        self.clone()
    }
    fn is(&self, held: &TD) -> bool {
        Rc::ptr_eq(&self.0, &held.0)
    }
}

/// A growable slot vector, as the module's `KVec` would be.
impl<T> SlotVec<T> for Vec<Slot<T>> {
    fn slots(&self) -> &[Slot<T>] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Slot<T>] {
        self
    }
    fn push_slot(&mut self, s: Slot<T>) -> bool {
        self.push(s);
        true
    }
}

/// A slab over a growable vector, as the module's `KVec` would be.
pub(crate) type Slab<T> = SlotSlab<Vec<Slot<T>>>;

impl TD {
    /// A destination of weight `w`, id `id`, idle.
    pub(crate) fn w(id: u32, w: i32) -> Self {
        TD::new(
            DestInfo::new(InetAddr::from_ipv4([10, 9, 0, id as u8]), 80, w),
            id,
        )
    }
    /// Leave or rejoin the service (`IP_VS_DEST_CF_AVAILABLE`).
    pub(crate) fn set_available(&self, on: bool) {
        self.0.borrow_mut().available = on;
    }
    /// Set the connection counters.
    pub(crate) fn conns(&self, active: i32, total: i32) {
        self.with(|d| {
            d.active_conns = active;
            d.total_conns = total;
        });
    }
}
