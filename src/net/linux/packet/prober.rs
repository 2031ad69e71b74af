//! The in-use probe: the pure [`Prober`] schedule, and the probe run on a listening socket.

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::net::linux::pdu::arp::arp_probe;
use crate::net::linux::pdu::ndp::dad_ns;
use crate::net::{KernelError, KernelOp, ProbeResult};
use crate::resource::Mac;

use super::claimant::claimant;
use super::socket::{Listener, check_ifindex, ethertype_of};
use super::sockets::{Sockets, check_ip, target};

/// Probes sent within one timeout (spread evenly, the first at once), so
/// that one lost frame does not make a used address look free.
pub const PROBES_PER_TIMEOUT: u32 = 2;

/// What the probe loop should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStep {
    /// Send the probe frame now, then poll again.
    Send,
    /// Listen for at most this long, feeding frames to [`Prober::on_frame`].
    Wait(Duration),
    /// Finished.
    Done(ProbeResult),
}

/// The probe as a state machine: time and frames go in, steps come out.
#[derive(Debug, Clone)]
pub struct Prober {
    ip: IpAddr,
    ours: Mac,
    start: Instant,
    timeout: Duration,
    sent: u32,
    result: Option<ProbeResult>,
}

impl Prober {
    pub fn new(ip: IpAddr, ours: Mac, start: Instant, timeout: Duration) -> Self {
        Self {
            ip,
            ours,
            start,
            timeout,
            sent: 0,
            result: None,
        }
    }

    /// When probe number `n` (from 0) is due.
    fn send_time(&self, n: u32) -> Instant {
        self.start + self.timeout * n / PROBES_PER_TIMEOUT
    }

    pub fn poll(&mut self, now: Instant) -> ProbeStep {
        if let Some(result) = self.result {
            return ProbeStep::Done(result);
        }
        let deadline = self.start + self.timeout;
        if self.timeout.is_zero() || now >= deadline {
            self.result = Some(ProbeResult::Free);
            return ProbeStep::Done(ProbeResult::Free);
        }
        if self.sent < PROBES_PER_TIMEOUT {
            let due = self.send_time(self.sent);
            if now >= due {
                self.sent += 1;
                return ProbeStep::Send;
            }
            return ProbeStep::Wait(due - now);
        }
        ProbeStep::Wait(deadline - now)
    }

    /// Feed a received frame; returns the result once someone claims it.
    pub fn on_frame(&mut self, frame: &[u8]) -> Option<ProbeResult> {
        if self.result.is_none()
            && let Some(mac) = claimant(frame, self.ip, self.ours)
        {
            self.result = Some(ProbeResult::InUse { mac });
        }
        self.result
    }
}

/// The probe frame for `ip`: an RFC 5227 ARP probe or a DAD NS.
pub fn probe_frame(mac: Mac, ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => arp_probe(mac, v4).to_vec(),
        IpAddr::V6(v6) => dad_ns(mac, v6).to_vec(),
    }
}

/// Runs a [`Prober`] on `listener` with the real clock.
fn run_probe(
    listener: &Listener,
    mac: Mac,
    ip: IpAddr,
    timeout: Duration,
) -> io::Result<ProbeResult> {
    let frame = probe_frame(mac, ip);
    let mut prober = Prober::new(ip, mac, Instant::now(), timeout);
    let mut buf = [0u8; 2048];
    loop {
        match prober.poll(Instant::now()) {
            ProbeStep::Send => listener.send(&frame)?,
            ProbeStep::Wait(wait) => {
                if let Some(n) = listener.recv(&mut buf, wait)?
                    && let Some(result) = prober.on_frame(&buf[..n])
                {
                    return Ok(result);
                }
            }
            ProbeStep::Done(result) => return Ok(result),
        }
    }
}

/// RFC 5227 ARP probe (sender IP 0.0.0.0) / DAD NS from :: to the
/// solicited-node group; listens for an answer or announcement from a MAC
/// that is not `mac`. timeout 0 = Free without sending.
///
/// One-shot: opens and closes its own packet socket. A long-lived caller
/// keeps a [`Sockets`] instead.
pub fn probe(
    ifindex: u32,
    mac: Mac,
    ip: IpAddr,
    timeout: Duration,
) -> Result<ProbeResult, KernelError> {
    Sockets::one_shot().probe(ifindex, mac, ip, timeout)
}

impl Sockets {
    /// [`probe`] over the kept sockets.
    pub fn probe(
        &self,
        ifindex: u32,
        mac: Mac,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError> {
        let op = KernelOp::Probe;
        check_ip(op, ifindex, ip)?;
        if timeout.is_zero() {
            return Ok(ProbeResult::Free);
        }
        let err = |e: &io::Error| KernelError::from_io(op, target(ifindex, ip), e);
        check_ifindex(ifindex).map_err(|e| err(&e))?;
        let listener = self
            .take_listener(ifindex, ethertype_of(ip))
            .map_err(|e| err(&e))?;
        let result = run_probe(&listener, mac, ip, timeout);
        self.put_back(listener);
        result.map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::fixtures::{MAC, OTHER, V4, V6};
    use crate::net::linux::pdu::ndp::unsolicited_na;

    #[test]
    fn prober_zero_timeout_sends_nothing() {
        let t0 = Instant::now();
        let mut p = Prober::new(IpAddr::V4(V4), MAC, t0, Duration::ZERO);
        assert_eq!(p.poll(t0), ProbeStep::Done(ProbeResult::Free));
    }

    #[test]
    fn prober_schedule_without_answer() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Prober::new(IpAddr::V4(V4), MAC, t0, ms(300));
        assert_eq!(p.poll(t0), ProbeStep::Send);
        assert_eq!(p.poll(t0), ProbeStep::Wait(ms(150)));
        assert_eq!(p.poll(t0 + ms(100)), ProbeStep::Wait(ms(50)));
        assert_eq!(p.poll(t0 + ms(150)), ProbeStep::Send);
        assert_eq!(p.poll(t0 + ms(160)), ProbeStep::Wait(ms(140)));
        assert_eq!(p.poll(t0 + ms(300)), ProbeStep::Done(ProbeResult::Free));
    }

    #[test]
    fn prober_answer_ends_the_probe() {
        let t0 = Instant::now();
        let mut p = Prober::new(IpAddr::V6(V6), MAC, t0, Duration::from_millis(300));
        assert_eq!(p.poll(t0), ProbeStep::Send);
        assert_eq!(p.on_frame(&unsolicited_na(MAC, V6)), None);
        let r = ProbeResult::InUse { mac: OTHER };
        assert_eq!(p.on_frame(&unsolicited_na(OTHER, V6)), Some(r));
        assert_eq!(p.poll(t0 + Duration::from_millis(1)), ProbeStep::Done(r));
    }
}
