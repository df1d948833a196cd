//! Working hours end to end in embedded mode through gRPC (R11.1-R11.13, R10.10-R10.12): the
//! workdays and special-occasions objects with their defaults and skill overrides, the shift
//! status, "is skill S open at T" across a DST change, the refusals, and a conversation whose
//! response is due after the off hours, in the queue and in GetResponseTime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use switchyard_proto::admin::v1::*;
use tonic::Code;

const MIN_MS: i64 = 60_000;

fn ms(rfc3339: &str) -> i64 {
    rfc3339.parse::<switchyard_hours::Timestamp>().unwrap().as_millisecond()
}

fn shift(start: &str, end: &str) -> Shift {
    Shift { start: start.into(), end: end.into() }
}

fn custom(shifts: Vec<Shift>) -> Option<DayHours> {
    Some(DayHours { status: DayStatus::Custom as i32, shifts })
}

fn off() -> Option<DayHours> {
    Some(DayHours { status: DayStatus::Off as i32, shifts: vec![] })
}

/// Monday to Friday 9:00 am to 5:00 pm in New York, weekends off.
fn new_york() -> Workdays {
    let day = || custom(vec![shift("9:00 am", "5:00 pm")]);
    Workdays {
        name: "New York office".into(),
        description: "weekdays 9 to 5".into(),
        time_zone: "America/New_York".into(),
        monday: day(),
        tuesday: day(),
        wednesday: day(),
        thursday: day(),
        friday: day(),
        saturday: off(),
        sunday: off(),
    }
}

fn us_holidays() -> SpecialOccasions {
    let christmas = Occasion {
        name: "Christmas".into(),
        from: "2026-12-25".into(),
        to: "2026-12-25".into(),
        status: DayStatus::Off as i32,
        shifts: vec![],
    };
    // Christmas Eve closes early.
    let eve = Occasion {
        name: "Christmas Eve".into(),
        from: "2026-12-24".into(),
        to: "2026-12-24".into(),
        status: DayStatus::Custom as i32,
        shifts: vec![shift("09:00", "12:00")],
    };
    SpecialOccasions {
        name: "US holidays".into(),
        time_zone: "America/New_York".into(),
        occasions: vec![christmas, eve],
    }
}

fn put_workdays(id: &str, workdays: Workdays, make_default: bool) -> PutWorkdaysRequest {
    PutWorkdaysRequest {
        account_id: "acme".into(),
        workdays_id: id.into(),
        workdays: Some(workdays),
        make_default,
        expected_revision: 0,
    }
}

fn skill_hours(skill: &str, at: &str) -> GetSkillHoursRequest {
    GetSkillHoursRequest { account_id: "acme".into(), skill_id: skill.into(), at_ms: ms(at) }
}

fn shift_status(mode: HoursMode, off_hours_until_ms: i64) -> SetShiftStatusRequest {
    SetShiftStatusRequest { account_id: "acme".into(), mode: mode as i32, off_hours_until_ms, expected_revision: 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_york_schedule_with_a_holiday_answers_open_and_next_shift_across_dst_r11_3_r11_6_r11_12() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "support"], &[]).await;
    let mut hours = cluster.hours_admin().await;
    hours.put_workdays(put_workdays("ny", new_york(), true)).await.unwrap();
    let occasions = PutSpecialOccasionsRequest {
        account_id: "acme".into(),
        occasions_id: "us".into(),
        occasions: Some(us_holidays()),
        make_default: true,
        expected_revision: 0,
    };
    hours.put_special_occasions(occasions).await.unwrap();
    // Manual mode (R11.1's default) ignores the objects until the account switches.
    let manual = hours.get_skill_hours(skill_hours("sales", "2026-12-05T12:00:00-05:00")).await.unwrap().into_inner();
    assert!(manual.open && manual.workdays_id.is_empty());
    hours.set_shift_status(shift_status(HoursMode::Automatic, 0)).await.unwrap();

    let reader = hours.clone();
    let ask = |skill: &'static str, at: &'static str| {
        let mut hours = reader.clone();
        async move { hours.get_skill_hours(skill_hours(skill, at)).await.unwrap().into_inner() }
    };
    let tuesday = ask("sales", "2026-12-01T10:00:00-05:00").await;
    assert!(tuesday.open);
    assert_eq!((tuesday.next_shift_start_ms, tuesday.workdays_id.as_str()), (ms("2026-12-01T10:00:00-05:00"), "ny"));
    assert_eq!(tuesday.occasions_id, "us");
    let evening = ask("sales", "2026-12-01T17:00:00-05:00").await;
    assert!(!evening.open);
    let delay = evening.delay.unwrap();
    assert_eq!((delay.kind(), delay.until_ms), (DelayKind::Night, ms("2026-12-02T09:00:00-05:00")));
    assert_eq!(evening.next_shift_start, "2026-12-02T14:00:00Z");
    let saturday = ask("sales", "2026-12-05T12:00:00-05:00").await.delay.unwrap();
    assert_eq!((saturday.kind(), saturday.until_ms), (DelayKind::Weekend, ms("2026-12-07T09:00:00-05:00")));
    // R11.5, R11.6: the occasions replace the workdays on their dates.
    let eve = ask("sales", "2026-12-24T13:00:00-05:00").await.delay.unwrap();
    assert_eq!((eve.kind(), eve.until_ms), (DelayKind::Holiday, ms("2026-12-28T09:00:00-05:00")));
    assert!(ask("sales", "2026-12-24T11:00:00-05:00").await.open);
    // Spring forward (2027-03-14, Sunday): Friday's close is 22:00 UTC, Monday's opening 13:00
    // UTC, each 9:00 am / 5:00 pm on the wall clock.
    let friday = ask("sales", "2027-03-12T17:00:00-05:00").await;
    assert_eq!(friday.next_shift_start, "2027-03-15T13:00:00Z");
    assert!(ask("sales", "2027-03-15T13:00:00Z").await.open);
    assert!(!ask("sales", "2027-03-15T12:59:00Z").await.open);
    // Fall back (2026-11-01): Monday 9:00 am is 14:00 UTC again.
    assert_eq!(ask("sales", "2026-10-31T12:00:00-04:00").await.next_shift_start, "2026-11-02T14:00:00Z");

    // R11.7: a skill's own objects override the defaults; an empty occasions list means none.
    let always = Workdays { name: "always".into(), time_zone: "UTC".into(), ..Default::default() };
    hours.put_workdays(put_workdays("always", always, false)).await.unwrap();
    let none = SpecialOccasions { name: "none".into(), time_zone: "UTC".into(), occasions: vec![] };
    let request = PutSpecialOccasionsRequest {
        account_id: "acme".into(),
        occasions_id: "none".into(),
        occasions: Some(none),
        make_default: false,
        expected_revision: 0,
    };
    hours.put_special_occasions(request).await.unwrap();
    let mut admin = cluster.routing_admin().await;
    let skill = SkillRouting { workdays_id: "always".into(), occasions_id: "none".into(), ..Default::default() };
    let set = SetSkillRoutingRequest {
        account_id: "acme".into(),
        skill_id: "support".into(),
        skill: Some(skill),
        expected_revision: 0,
    };
    admin.set_skill_routing(set).await.unwrap();
    let support = ask("support", "2026-12-25T03:00:00-05:00").await;
    assert!(support.open);
    assert_eq!((support.workdays_id.as_str(), support.occasions_id.as_str()), ("always", "none"));
    assert!(!ask("-1", "2026-12-25T12:00:00-05:00").await.open);

    // The objects read back as written, times as HH:MM.
    let read = hours.get_working_hours(GetWorkingHoursRequest { account_id: "acme".into() }).await.unwrap();
    let read = read.into_inner().hours.unwrap();
    assert_eq!((read.mode(), read.default_workdays_id.as_str()), (HoursMode::Automatic, "ny"));
    let monday = read.workdays["ny"].monday.clone().unwrap();
    assert_eq!(monday.shifts, vec![shift("09:00", "17:00")]);
    assert_eq!(read.occasions["us"].occasions[1].from, "2026-12-24");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_working_hours_are_refused_by_field_and_change_nothing_r11_3_r11_5_r11_7() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut hours = cluster.hours_admin().await;
    let revision = hours.put_workdays(put_workdays("ny", new_york(), true)).await.unwrap().into_inner().revision;

    let mut off_grid = new_york();
    off_grid.monday = custom(vec![shift("09:03", "17:00")]);
    let mut unreadable = new_york();
    unreadable.tuesday = custom(vec![shift("9 o'clock", "17:00")]);
    let mut overnight = new_york();
    overnight.friday = custom(vec![shift("21:00", "01:00")]);
    let unknown_zone = Workdays { time_zone: "America/Gotham".into(), ..new_york() };
    let cases = [
        (off_grid, "workdays.monday.shifts[0]"),
        (unreadable, "workdays.tuesday.shifts[0].start"),
        (overnight, "workdays.friday.shifts[0]"),
        (unknown_zone, "workdays.time_zone"),
    ];
    for (workdays, field) in cases {
        let err = hours.put_workdays(put_workdays("ny", workdays, false)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
        assert!(err.message().starts_with(&format!("invalid {field}")), "{field}: {}", err.message());
    }
    let err = hours.put_workdays(put_workdays("no spaces", new_york(), false)).await.unwrap_err();
    assert!(
        err.code() == Code::InvalidArgument && err.message().starts_with("invalid workdays_id"),
        "{}",
        err.message()
    );
    // R11.5: an off occasion lasts at most 30 days.
    let mut long = us_holidays();
    long.occasions[0].to = "2027-02-25".into();
    let request = PutSpecialOccasionsRequest {
        account_id: "acme".into(),
        occasions_id: "us".into(),
        occasions: Some(long),
        make_default: false,
        expected_revision: 0,
    };
    let err = hours.put_special_occasions(request).await.unwrap_err();
    assert!(
        err.code() == Code::InvalidArgument && err.message().starts_with("invalid occasions.occasions[0]"),
        "{}",
        err.message()
    );
    // R11.2: off hours need a future next shift start.
    let err = hours.set_shift_status(shift_status(HoursMode::Manual, ms("2020-01-01T00:00:00Z"))).await.unwrap_err();
    assert!(
        err.code() == Code::InvalidArgument && err.message().starts_with("invalid off_hours_until_ms"),
        "{}",
        err.message()
    );
    let err = hours.set_shift_status(shift_status(HoursMode::Automatic, ms("2999-01-01T00:00:00Z"))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // A skill may only name objects that exist; an object in use cannot be deleted.
    let mut admin = cluster.routing_admin().await;
    let set = |workdays_id: &str| SetSkillRoutingRequest {
        account_id: "acme".into(),
        skill_id: "sales".into(),
        skill: Some(SkillRouting { workdays_id: workdays_id.into(), ..Default::default() }),
        expected_revision: 0,
    };
    let err = admin.set_skill_routing(set("paris")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    assert!(err.message().contains("skill.workdays_id"), "{}", err.message());
    let read = hours.get_working_hours(GetWorkingHoursRequest { account_id: "acme".into() }).await.unwrap();
    assert_eq!(read.into_inner().revision, revision, "a refusal wrote nothing");

    admin.set_skill_routing(set("ny")).await.unwrap();
    let delete =
        |id: &str| DeleteWorkdaysRequest { account_id: "acme".into(), workdays_id: id.into(), expected_revision: 0 };
    let err = hours.delete_workdays(delete("ny")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    assert!(err.message().contains("sales"), "{}", err.message());
    assert_eq!(hours.delete_workdays(delete("paris")).await.unwrap_err().code(), Code::NotFound);
    admin.set_skill_routing(set("")).await.unwrap();
    hours.delete_workdays(delete("ny")).await.unwrap();
    let read = hours.get_working_hours(GetWorkingHoursRequest { account_id: "acme".into() }).await.unwrap();
    let read = read.into_inner().hours.unwrap();
    assert!(read.workdays.is_empty() && read.default_workdays_id.is_empty());
    let unknown_skill = hours.get_skill_hours(skill_hours("nope", "2026-12-01T10:00:00Z")).await.unwrap_err();
    assert_eq!(unknown_skill.code(), Code::NotFound);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_opened_in_off_hours_is_due_after_the_next_shift_start_r10_10_r11_2_r11_8_r11_9_r11_12() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 2)]).await;
    let mut hours = cluster.hours_admin().await;
    // R11.2: a manager closes for two hours from now (the cluster runs on the real clock).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let reopens = (now / MIN_MS + 120) * MIN_MS;
    hours.set_shift_status(shift_status(HoursMode::Manual, reopens)).await.unwrap();

    let mut partner = cluster.connector().await;
    let opened = partner.open_conversation(open("acme", "kim", "sales", "")).await.unwrap().into_inner();
    let mut admin = cluster.routing_admin().await;
    let request = GetResponseTimeRequest { account_id: "acme".into(), conversation_id: opened.conversation_id.clone() };
    // A first-time consumer: 10 minutes (R10.2) counted from the reopening (R10.10).
    let expected_due = reopens + 10 * MIN_MS;
    wait_until(|| {
        let mut admin = admin.clone();
        let conversation_id = opened.conversation_id.clone();
        async move {
            let queue = admin
                .get_queue(GetQueueRequest { account_id: "acme".into(), skill_id: "sales".into(), limit: 0 })
                .await
                .unwrap()
                .into_inner();
            queue.entries.iter().any(|e| e.conversation_id == conversation_id && e.due_ms == expected_due)
        }
    })
    .await;
    let ettr = admin.get_response_time(request.clone()).await.unwrap().into_inner();
    assert!(ettr.due);
    assert_eq!((ettr.due_ms, ettr.sla.as_str()), (expected_due, "first_time"));
    assert!(ettr.remaining_ms > 120 * MIN_MS - 5 * MIN_MS, "{}", ettr.remaining_ms);
    let delay = ettr.delay.unwrap();
    assert_eq!((delay.kind(), delay.until_ms), (DelayKind::Night, reopens));

    // R11.8: off hours change what the consumer is told, not routing: an agent online now
    // gets the conversation, and the consumer is still told the off-hours time.
    let mut stream = online(&cluster, "acme", "ann").await;
    assert_eq!(expect_assigned(&mut stream).await.conversation_id, opened.conversation_id);
    assert_eq!(admin.get_response_time(request.clone()).await.unwrap().into_inner().due_ms, expected_due);

    // Back online (R11.9): the delay is gone at once, and the time to response is counted in
    // the new mode: 10 minutes from the open, long before the old reopening.
    hours.set_shift_status(shift_status(HoursMode::Manual, 0)).await.unwrap();
    let ettr = admin.get_response_time(request).await.unwrap().into_inner();
    assert_eq!(ettr.delay, None);
    assert!(ettr.due_ms >= now + 10 * MIN_MS && ettr.due_ms < now + 11 * MIN_MS, "{} vs {now}", ettr.due_ms);
    let missing = GetResponseTimeRequest { account_id: "acme".into(), conversation_id: "nope".into() };
    assert_eq!(admin.get_response_time(missing).await.unwrap_err().code(), Code::NotFound);
    cluster.stop().await;
}

/// R11.11, the legacy mode: a skill is open while an agent holding it is logged in (the
/// unassigned skill -1: any agent); only now can be asked, and off hours need manual mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_legacy_mode_a_skill_is_open_while_an_agent_of_it_is_logged_in_r11_11() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "support"], &[("ann", &["sales"], 2)]).await;
    let mut hours = cluster.hours_admin().await;
    let refused = hours.set_shift_status(shift_status(HoursMode::LoggedInAgents, 1)).await.unwrap_err();
    assert_eq!((refused.code(), refused.message().contains("off_hours_until_ms")), (Code::InvalidArgument, true));
    hours.set_shift_status(shift_status(HoursMode::LoggedInAgents, 0)).await.unwrap();
    let read = GetWorkingHoursRequest { account_id: "acme".into() };
    assert_eq!(
        hours.get_working_hours(read).await.unwrap().into_inner().hours.unwrap().mode(),
        HoursMode::LoggedInAgents
    );
    let now = |skill: &str| GetSkillHoursRequest { account_id: "acme".into(), skill_id: skill.into(), at_ms: 0 };
    let answer = hours.get_skill_hours(now("sales")).await.unwrap().into_inner();
    assert_eq!((answer.open, answer.mode(), answer.next_shift_start_ms), (false, HoursMode::LoggedInAgents, 0));
    assert!(!hours.get_skill_hours(now("-1")).await.unwrap().into_inner().open);

    let _ann = online(&cluster, "acme", "ann").await;
    assert!(hours.get_skill_hours(now("sales")).await.unwrap().into_inner().open);
    assert!(!hours.get_skill_hours(now("support")).await.unwrap().into_inner().open, "nobody of support");
    assert!(hours.get_skill_hours(now("-1")).await.unwrap().into_inner().open, "the account: any agent");
    let later = hours.get_skill_hours(skill_hours("sales", "2030-01-01T10:00:00Z")).await.unwrap_err();
    assert_eq!(later.code(), Code::FailedPrecondition);
    assert!(later.message().contains("at_ms"), "{later:?}");
    cluster.stop().await;
}
