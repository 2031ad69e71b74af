//! The daemon's reaction policy as data: every directory under
//! `tests/policy/` is one case. `input.jsonl` holds the steps, each with
//! its time in milliseconds; `output.jsonl` the complete transcript of what
//! came out (the jobs started, with their time, and the answers to
//! questions). A step that produces nothing adds nothing to the transcript,
//! so "nothing happens" is asserted too. See `tests/policy/README.md`.
//!
//! `IPKIT_BLESS=1 cargo test --test policy` rewrites every `output.jsonl`
//! from what the policy does now (review the diff before committing it).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipkit::daemon::policy::{Input, Job, JobRequest, Ms, Policy, Report};
use ipkit::resource::{AdapterName, Definition, Tag};
use serde::{Deserialize, Serialize};

/// One line of `input.jsonl`.
#[derive(Debug, Deserialize)]
struct Step {
    at: Ms,
    #[serde(flatten)]
    what: What,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum What {
    /// Install these definitions (start, SIGHUP).
    Load(Vec<Definition>),
    /// Feed one input.
    Input(Input),
    /// Ask the policy something; the answer goes into the transcript.
    Ask(Question),
    /// Play the executor: from `at`, jump to each next deadline before
    /// `until`, tick, and answer every job at once with the report given
    /// for its kind (`check`, `deep_check`, `restore`, `refresh`,
    /// `mark_failed`). A job of a kind without an answer fails the case.
    Serve {
        until: Ms,
        answers: BTreeMap<String, Report>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Question {
    NextDeadline,
    Tags,
    /// Is this adapter connected, as far as the policy knows?
    Link(AdapterName),
    /// Which addresses to listen for claims of, on which adapter.
    Watched,
}

/// One line of `output.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Out {
    at: Ms,
    #[serde(flatten)]
    what: Came,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Came {
    /// A job started.
    Start(JobRequest),
    NextDeadline(Option<Ms>),
    Tags(Vec<Tag>),
    Link(Option<bool>),
    Watched(Vec<(IpAddr, AdapterName)>),
}

fn kind_of(job: &Job) -> &'static str {
    match job {
        Job::Check { .. } => "check",
        Job::DeepCheck => "deep_check",
        Job::Restore => "restore",
        Job::Refresh => "refresh",
        Job::MarkFailed(_) => "mark_failed",
        Job::Defend { .. } => "defend",
    }
}

fn started(out: &mut Vec<Out>, at: Ms, jobs: Vec<JobRequest>) -> Vec<JobRequest> {
    out.extend(jobs.iter().map(|j| Out {
        at,
        what: Came::Start(j.clone()),
    }));
    jobs
}

/// Answer `jobs` (and whatever their answers start) at `now`.
fn answer(
    policy: &mut Policy,
    out: &mut Vec<Out>,
    now: Ms,
    answers: &BTreeMap<String, Report>,
    mut jobs: Vec<JobRequest>,
) -> Result<(), String> {
    while !jobs.is_empty() {
        let mut next = Vec::new();
        for j in jobs {
            let kind = kind_of(&j.job);
            let report = answers
                .get(kind)
                .cloned()
                .ok_or_else(|| format!("serve at {now}: no answer for a {kind} job"))?;
            let done = Input::Done { tag: j.tag, report };
            next.extend(started(out, now, policy.handle(now, done)));
        }
        jobs = next;
    }
    Ok(())
}

fn run(steps: Vec<Step>) -> Result<Vec<Out>, String> {
    let mut policy = Policy::new();
    let mut out = Vec::new();
    for Step { at, what } in steps {
        match what {
            What::Load(defs) => {
                started(&mut out, at, policy.load(defs, at));
            }
            What::Input(input) => {
                started(&mut out, at, policy.handle(at, input));
            }
            What::Ask(q) => out.push(Out {
                at,
                what: match q {
                    Question::NextDeadline => Came::NextDeadline(policy.next_deadline()),
                    Question::Tags => Came::Tags(policy.tags().cloned().collect()),
                    Question::Link(name) => Came::Link(policy.link(&name)),
                    Question::Watched => Came::Watched(policy.watched()),
                },
            }),
            What::Serve { until, answers } => {
                let mut now = at;
                while now < until {
                    let deadline = policy
                        .next_deadline()
                        .ok_or_else(|| format!("serve at {now}: no deadline left"))?;
                    now = deadline.max(now);
                    let jobs = started(&mut out, now, policy.handle(now, Input::Tick));
                    answer(&mut policy, &mut out, now, &answers, jobs)?;
                }
            }
        }
    }
    Ok(out)
}

fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

fn jsonl(lines: &[Out]) -> String {
    lines
        .iter()
        .map(|l| serde_json::to_string(l).expect("serializable") + "\n")
        .collect()
}

/// Run one case; Err says why it failed.
fn case(dir: &Path, bless: bool) -> Result<(), String> {
    let got = run(read_lines(&dir.join("input.jsonl"))?)?;
    let expected_path = dir.join("output.jsonl");
    if bless {
        return std::fs::write(&expected_path, jsonl(&got))
            .map_err(|e| format!("{}: {e}", expected_path.display()));
    }
    let expected: Vec<Out> = read_lines(&expected_path)?;
    if got == expected {
        return Ok(());
    }
    let first = got
        .iter()
        .zip(&expected)
        .position(|(g, e)| g != e)
        .unwrap_or(got.len().min(expected.len()));
    Err(format!(
        "transcripts differ at line {}\n--- expected\n{}--- got\n{}",
        first + 1,
        jsonl(&expected),
        jsonl(&got)
    ))
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policy");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/policy exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.join("input.jsonl").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_policy_case() {
    let bless = std::env::var_os("IPKIT_BLESS").is_some();
    let dirs = cases();
    // A missing directory must not pass as "no case failed".
    assert!(dirs.len() >= 18, "only {} cases found", dirs.len());
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            case(d, bless)
                .err()
                .map(|e| format!("{}: {e}", d.file_name().unwrap_or_default().display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_wrong_transcript_fails() {
    // The harness itself: a case whose output differs is reported.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("input.jsonl"),
        r#"{"at":0,"ask":"next_deadline"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("output.jsonl"),
        r#"{"at":0,"next_deadline":5}"#,
    )
    .unwrap();
    let e = case(dir.path(), false).unwrap_err();
    assert!(e.contains("differ at line 1"), "{e}");
    std::fs::write(
        dir.path().join("output.jsonl"),
        r#"{"at":0,"next_deadline":null}"#,
    )
    .unwrap();
    case(dir.path(), false).unwrap();
}

/// `n` resources on eth0 (quickCheck every 5 s, deepCheck every 60 s, no
/// refresh), for the deepCheck-room tests.
fn many_on_eth0(n: usize) -> Vec<Definition> {
    (0..n)
        .map(|i| {
            let mut def = Definition::new(
                Tag::new(&format!("r{i:03}")).expect("tag"),
                format!("198.51.{}.{}/24", 100 + i / 200, 10 + i % 200)
                    .parse()
                    .expect("address"),
                AdapterName::new("eth0").expect("eth0"),
                Some(AdapterName::new("eth1").expect("eth1")),
            )
            .expect("definition");
            def.tunables.quick_check_interval = Duration::from_secs(5);
            def.tunables.deep_check_interval = Duration::from_secs(60);
            def.tunables.announce_refresh = Duration::ZERO;
            def
        })
        .collect()
}

/// A quickCheck that passed on eth0.
fn passed() -> Report {
    Report::Checked {
        ok: true,
        recovered: None,
        active: AdapterName::new("eth0").expect("eth0"),
        in_service: true,
    }
}

/// Feed `tag`'s report; the jobs it starts.
fn done(policy: &mut Policy, at: Ms, tag: Tag, report: Report) -> Vec<JobRequest> {
    policy.handle(at, Input::Done { tag, report })
}

/// At most `DEEP_AT_ONCE` deepChecks are under way (issue 11): with more
/// due at once, the rest wait in line, not busy: their quickChecks go on,
/// and their deepChecks start as the ones under way report. Before, every
/// due deepCheck started (and its resource was busy until a worker ran
/// it), so at 10,000 resources the quickChecks stopped for minutes behind
/// the deepCheck backlog.
#[test]
fn deep_checks_beyond_the_room_wait_in_line_and_go_on_being_quick_checked() {
    use ipkit::daemon::policy::DEEP_AT_ONCE;
    let n = DEEP_AT_ONCE + 44;
    let defs = many_on_eth0(n);
    let kinds = |jobs: &[JobRequest]| {
        let mut k: BTreeMap<&'static str, usize> = BTreeMap::new();
        for j in jobs {
            *k.entry(kind_of(&j.job)).or_default() += 1;
        }
        k
    };
    let mut policy = Policy::new();
    let first = policy.load(defs, 0);
    assert_eq!(first.len(), n);
    // Every first check passes at once; then, at 100 s, every deepCheck is
    // due (the last at 90 s) and so is every quickCheck.
    for j in first {
        done(&mut policy, 0, j.tag, passed());
    }
    let now = 100_000;
    let checks = policy.handle(now, Input::Tick);
    assert_eq!(kinds(&checks), BTreeMap::from([("check", n)]));
    let mut deep = Vec::new();
    for j in checks {
        deep.extend(done(&mut policy, now, j.tag, passed()));
    }
    assert_eq!(kinds(&deep), BTreeMap::from([("deep_check", DEEP_AT_ONCE)]));
    let in_round: std::collections::HashSet<Tag> = deep.iter().map(|j| j.tag.clone()).collect();

    // Five seconds on, none reported yet: the 44 waiting ones are
    // quickChecked; the ones under way are busy.
    let later = now + 5_050;
    let checks = policy.handle(later, Input::Tick);
    assert_eq!(
        kinds(&checks),
        BTreeMap::from([("check", n - DEEP_AT_ONCE)])
    );
    assert!(checks.iter().all(|j| !in_round.contains(&j.tag)));
    for j in checks {
        let more = done(&mut policy, later, j.tag, passed());
        assert!(more.is_empty(), "{more:?}");
    }

    // They report: each report starts one waiting deepCheck (and the
    // reporting one, free again, its overdue quickCheck).
    let mut next = Vec::new();
    for j in deep {
        next.extend(done(&mut policy, later, j.tag, Report::DeepChecked));
    }
    let deep_next: Vec<&JobRequest> = next.iter().filter(|j| j.job == Job::DeepCheck).collect();
    assert_eq!(deep_next.len(), n - DEEP_AT_ONCE, "{:?}", kinds(&next));
    assert!(deep_next.iter().all(|j| !in_round.contains(&j.tag)));
}

/// A line of waiting deepChecks never stalls: here the first 256 waiting
/// resources are dropped by a reload, and their entries in the line must
/// not use up the room the reports free (before: each report let exactly
/// the next entry go, so the dropped ones took every report's room and the
/// last resource never had its deepCheck again).
#[test]
fn a_waiting_deep_check_is_not_stranded_behind_resources_a_reload_dropped() {
    use ipkit::daemon::policy::DEEP_AT_ONCE;
    let n = 2 * DEEP_AT_ONCE + 1;
    let defs = many_on_eth0(n);
    let mut policy = Policy::new();
    for j in policy.load(defs.clone(), 0) {
        done(&mut policy, 0, j.tag, passed());
    }
    // Every quickCheck and then every deepCheck due at 100 s: the first
    // 256 reports start deepChecks, the other 257 resources wait in line.
    let now = 100_000;
    let mut deep = Vec::new();
    let mut line = Vec::new();
    for j in policy.handle(now, Input::Tick) {
        let tag = j.tag.clone();
        let started = done(&mut policy, now, j.tag, passed());
        if started.is_empty() {
            line.push(tag);
        }
        deep.extend(started);
    }
    assert_eq!(deep.len(), DEEP_AT_ONCE);
    assert_eq!(line.len(), DEEP_AT_ONCE + 1);
    // A reload drops the first 256 in line; the last one stays.
    let last = line.last().cloned().expect("last");
    let kept: Vec<Definition> = defs
        .into_iter()
        .filter(|d| !line[..DEEP_AT_ONCE].contains(&d.tag))
        .collect();
    assert!(policy.load(kept, now).is_empty());
    // Every deepCheck under way reports: the last one in line starts its.
    let mut next = Vec::new();
    for j in deep {
        next.extend(done(&mut policy, now, j.tag, Report::DeepChecked));
    }
    assert!(
        next.iter()
            .any(|j| j.tag == last && j.job == Job::DeepCheck),
        "{next:?}"
    );
}
