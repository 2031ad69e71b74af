//! Windows' change notifications for the daemon's change source
//! (`net::windows::WindowsChanges`): `NotifyIpInterfaceChange` and
//! `NotifyUnicastIpAddressChange`, each subscribed with an initial
//! notification. A callback only wakes the change source, which then reads
//! the node; the first one also proves that notifications work here (Wine
//! 8 accepts the subscriptions and never calls back). The calls are looked
//! up at run time, like the IP Helper's optional ones.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::NetworkManagement::IpHelper::{
    MIB_IPINTERFACE_ROW, MIB_NOTIFICATION_TYPE, MIB_UNICASTIPADDRESS_ROW,
};
use windows_sys::Win32::Networking::WinSock::{ADDRESS_FAMILY, AF_UNSPEC};

use super::Library;
use crate::net::Waker;

type InterfaceCallback =
    unsafe extern "system" fn(*const c_void, *const MIB_IPINTERFACE_ROW, MIB_NOTIFICATION_TYPE);
type AddressCallback = unsafe extern "system" fn(
    *const c_void,
    *const MIB_UNICASTIPADDRESS_ROW,
    MIB_NOTIFICATION_TYPE,
);
type NotifyInterface = unsafe extern "system" fn(
    ADDRESS_FAMILY,
    InterfaceCallback,
    *const c_void,
    bool,
    *mut HANDLE,
) -> u32;
type NotifyAddress = unsafe extern "system" fn(
    ADDRESS_FAMILY,
    AddressCallback,
    *const c_void,
    bool,
    *mut HANDLE,
) -> u32;
type Cancel = unsafe extern "system" fn(HANDLE) -> u32;

struct Context {
    waker: Waker,
    heard: Arc<AtomicBool>,
}

fn heard(context: *const c_void) {
    // SAFETY: the context is the Box<Context> of a live Subscription (the
    // subscriptions are cancelled before it is freed).
    let c = unsafe { &*(context as *const Context) };
    c.heard.store(true, Ordering::Relaxed);
    c.waker.wake();
}

unsafe extern "system" fn on_interface(
    context: *const c_void,
    _row: *const MIB_IPINTERFACE_ROW,
    _kind: MIB_NOTIFICATION_TYPE,
) {
    heard(context);
}

unsafe extern "system" fn on_address(
    context: *const c_void,
    _row: *const MIB_UNICASTIPADDRESS_ROW,
    _kind: MIB_NOTIFICATION_TYPE,
) {
    heard(context);
}

/// Both subscriptions; cancelled when dropped.
struct Subscription {
    handles: Vec<HANDLE>,
    cancel: Cancel,
    context: *mut Context,
}

// SAFETY: the handles and the context are only used by Drop, once.
unsafe impl Send for Subscription {}

impl Drop for Subscription {
    fn drop(&mut self) {
        for h in &self.handles {
            // SAFETY: a handle from a successful subscription; cancelling
            // waits for running callbacks.
            unsafe { (self.cancel)(*h) };
        }
        // SAFETY: from Box::into_raw below; no callback runs any more.
        drop(unsafe { Box::from_raw(self.context) });
    }
}

/// Subscribe (see the module doc); None when this system has no such
/// calls or refuses both subscriptions.
pub fn subscribe(waker: Waker, heard: Arc<AtomicBool>) -> Option<Box<dyn Send>> {
    let lib = Library::load("iphlpapi.dll")?;
    // SAFETY (each transmute): the exports have these signatures
    // (netioapi.h).
    let (notify_interface, notify_address, cancel) = unsafe {
        (
            std::mem::transmute::<*const c_void, NotifyInterface>(
                lib.function(b"NotifyIpInterfaceChange\0")?,
            ),
            std::mem::transmute::<*const c_void, NotifyAddress>(
                lib.function(b"NotifyUnicastIpAddressChange\0")?,
            ),
            std::mem::transmute::<*const c_void, Cancel>(
                lib.function(b"CancelMibChangeNotify2\0")?,
            ),
        )
    };
    let context = Box::into_raw(Box::new(Context { waker, heard }));
    let mut handles = Vec::new();
    let mut h: HANDLE = std::ptr::null_mut();
    // SAFETY: the callback and context stay valid until cancelled.
    if unsafe {
        notify_interface(
            AF_UNSPEC,
            on_interface,
            context as *const c_void,
            true,
            &mut h,
        )
    } == 0
    {
        handles.push(h);
    }
    let mut h: HANDLE = std::ptr::null_mut();
    // SAFETY: as above.
    if unsafe {
        notify_address(
            AF_UNSPEC,
            on_address,
            context as *const c_void,
            true,
            &mut h,
        )
    } == 0
    {
        handles.push(h);
    }
    let subscription = Subscription {
        handles,
        cancel,
        context,
    };
    if subscription.handles.is_empty() {
        return None;
    }
    Some(Box::new(subscription))
}
