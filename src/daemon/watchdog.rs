//! The systemd watchdog (`WatchdogSec=` in the units): `WATCHDOG=1` goes
//! out every half period, but only after the event loop has answered a ping
//! within a quarter of it, so a wedged loop stops the feeding and systemd
//! restarts the daemon (docs/daemon.md "systemd").

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::control::Control;

/// The feeding thread; stopped (and joined) by [`Watchdog::stop`].
pub struct Watchdog {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

/// How often to feed a watchdog of `period`, and how long the loop may take
/// to answer before a round is skipped.
pub fn rhythm(period: Duration) -> (Duration, Duration) {
    (period / 2, period / 4)
}

impl Watchdog {
    /// Feed (`feed`) every half `period` while the loop behind `control`
    /// answers. A round the loop misses is reported once on stderr, and the
    /// recovery too.
    pub fn start(
        control: Control,
        period: Duration,
        mut feed: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Watchdog> {
        let (stop, stopped) = mpsc::channel();
        let (every, within) = rhythm(period);
        let thread = std::thread::Builder::new()
            .name("ipkit-watchdog".into())
            .spawn(move || {
                let mut healthy = true;
                loop {
                    match stopped.recv_timeout(every) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let answered = control.answers_within(within);
                    if answered {
                        feed();
                    }
                    if answered != healthy {
                        healthy = answered;
                        if healthy {
                            eprintln!("ipkit daemon: the event loop answers again; feeding the watchdog");
                        } else {
                            eprintln!(
                                "ipkit daemon: the event loop did not answer within {} ms; the watchdog is not fed",
                                within.as_millis()
                            );
                        }
                    }
                }
            })?;
        Ok(Watchdog { stop, thread })
    }

    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc::Receiver;

    use super::*;
    use crate::daemon::control::Message;
    use crate::net::Waker;
    use crate::net::changes::Wake;

    struct NoWake;
    impl Wake for NoWake {
        fn wake(&self) {}
    }

    fn control() -> (Control, Receiver<Message>) {
        let (tx, rx) = mpsc::channel();
        (Control::new(tx, Waker::new(Arc::new(NoWake))), rx)
    }

    /// A loop that answers pings until told to hang.
    fn answering(inbox: Receiver<Message>, hang: Receiver<()>) {
        std::thread::spawn(move || {
            while let Ok(message) = inbox.recv() {
                if hang.try_recv().is_ok() {
                    // Wedged: keeps the inbox, reads nothing more.
                    let _keep = inbox;
                    std::thread::park();
                    return;
                }
                if let Message::Ping(answer) = message {
                    let _ = answer.try_send(());
                }
            }
        });
    }

    #[test]
    fn fed_while_the_loop_answers_and_not_once_it_hangs() {
        let (control, inbox) = control();
        let (hang, hung) = mpsc::channel();
        answering(inbox, hung);
        let (fed, feeds) = mpsc::channel();
        let dog = Watchdog::start(control, Duration::from_millis(40), move || {
            let _ = fed.send(());
        })
        .unwrap();
        for _ in 0..3 {
            feeds
                .recv_timeout(Duration::from_secs(5))
                .expect("fed while the loop answers");
        }
        hang.send(()).unwrap();
        // At most the round under way still feeds (its ping was answered
        // before the loop hung); then none, round after round.
        let _ = feeds.recv_timeout(Duration::from_millis(100));
        assert!(
            feeds.recv_timeout(Duration::from_millis(200)).is_err(),
            "fed while the loop hangs"
        );
        dog.stop();
    }

    #[test]
    fn a_loop_that_reads_nothing_does_not_answer() {
        let (control, _inbox) = control();
        assert!(!control.answers_within(Duration::from_millis(10)));
    }

    #[test]
    fn the_rhythm_is_half_and_a_quarter_of_the_period() {
        let (every, within) = rhythm(Duration::from_secs(30));
        assert_eq!(every, Duration::from_secs(15));
        assert_eq!(within, Duration::from_millis(7500));
    }
}
