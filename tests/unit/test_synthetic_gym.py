"""The synthetic gym: opening hours, unique check-ins, churners who go quiet, holidays, closures and determinism."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import pytest

from ml.synthetic_gym import SyntheticGym, brazil_holidays, easter, generate_gym

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
START = date(2026, 5, 1)


@pytest.fixture(scope="module")
def gym() -> SyntheticGym:
    return generate_gym(students=3000, start=START, days=182, tz=SAO_PAULO)


@pytest.fixture(scope="module")
def local_days(gym: SyntheticGym) -> Counter[date]:
    return Counter(instant.astimezone(SAO_PAULO).date() for _, instant in gym.checkins)


def last_local_day(gym: SyntheticGym) -> dict[int, date]:
    return {aluno_id: instant.astimezone(SAO_PAULO).date() for aluno_id, instant in gym.checkins}  # sorted: last wins


def test_full_size_gym_is_realistic_in_volume(gym: SyntheticGym) -> None:
    assert 150_000 <= len(gym.checkins) <= 350_000
    assert gym.start == START and gym.end == START + timedelta(days=182)


def test_students_have_ids_one_to_n_and_names(gym: SyntheticGym) -> None:
    assert [aluno_id for aluno_id, _ in gym.students] == list(range(1, 3001))
    assert all(len(name.split()) >= 2 for _, name in gym.students)
    assert {aluno_id for aluno_id, _ in gym.checkins} <= set(range(1, 3001))


def test_checkins_are_sorted_unique_aware_utc_whole_seconds_inside_the_period(gym: SyntheticGym) -> None:
    instants = [instant for _, instant in gym.checkins]
    assert instants == sorted(instants)
    assert len(set(gym.checkins)) == len(gym.checkins)
    assert all(instant.tzinfo is UTC and instant.microsecond == 0 for instant in instants)
    first, last = instants[0].astimezone(SAO_PAULO).date(), instants[-1].astimezone(SAO_PAULO).date()
    assert gym.start <= first and last < gym.end


def test_checkins_only_while_the_gym_is_open(gym: SyntheticGym) -> None:
    hours = Counter(instant.astimezone(SAO_PAULO).hour for _, instant in gym.checkins)
    assert min(hours) >= 5 and max(hours) <= 22  # 05:00 to 23:00 local
    # people come before work, at lunch and after work
    assert hours[7] > 4 * hours[10] and hours[19] > 4 * hours[15] and hours[12] > 4 * hours[15]


def test_opening_hours_hold_across_a_dst_change() -> None:
    new_york = ZoneInfo("America/New_York")
    gym = generate_gym(students=200, start=date(2026, 3, 1), days=21, tz=new_york, seed=3)
    hours = {instant.astimezone(new_york).hour for _, instant in gym.checkins}
    assert min(hours) >= 5 and max(hours) <= 22
    offsets = {instant.astimezone(new_york).utcoffset() for _, instant in gym.checkins}
    assert offsets == {timedelta(hours=-5), timedelta(hours=-4)}


def test_about_a_third_of_students_quit(gym: SyntheticGym) -> None:
    assert 0.20 <= len(gym.churned) / len(gym.students) <= 0.40


def test_churned_students_stay_away_for_their_last_weeks(gym: SyntheticGym) -> None:
    last = last_local_day(gym)
    quiet_since = gym.end - timedelta(weeks=4)
    assert all(last[aluno_id] < quiet_since for aluno_id in gym.churned if aluno_id in last)
    stayed = [aluno_id for aluno_id, _ in gym.students if aluno_id not in gym.churned and aluno_id in last]
    assert sum(last[aluno_id] >= quiet_since for aluno_id in stayed) / len(stayed) > 0.9


def visits_near_the_end(gym: SyntheticGym, students: set[int]) -> tuple[int, int]:
    """Visits in the 4 weeks up to each student's last visit, and in weeks 8-12 before it (long-standing students)."""
    days: dict[int, list[date]] = {}
    for aluno_id, instant in gym.checkins:
        if aluno_id in students:
            days.setdefault(aluno_id, []).append(instant.astimezone(SAO_PAULO).date())
    final, earlier = 0, 0
    for seen in days.values():
        last = seen[-1]
        if last - seen[0] >= timedelta(weeks=12):
            final += sum(day > last - timedelta(weeks=4) for day in seen)
            earlier += sum(last - timedelta(weeks=12) < day <= last - timedelta(weeks=8) for day in seen)
    return final, earlier


def test_churners_fade_out_before_their_last_visit_while_others_keep_their_pace(gym: SyntheticGym) -> None:
    final, earlier = visits_near_the_end(gym, set(gym.churned))
    assert final < 0.8 * earlier
    stayed = {aluno_id for aluno_id, _ in gym.students} - gym.churned
    final, earlier = visits_near_the_end(gym, stayed)
    assert final > 0.9 * earlier


def test_holidays_are_quiet_and_closed_days_empty(gym: SyntheticGym, local_days: Counter[date]) -> None:
    assert {date(2026, 5, 1), date(2026, 6, 4), date(2026, 9, 7), date(2026, 10, 12)} <= gym.holidays
    assert 1 <= len(gym.closed_days) <= 3
    assert all(local_days[day] == 0 for day in gym.closed_days)
    typical = statistics.median(local_days[START + timedelta(days=i)] for i in range(182))
    assert all(local_days[day] < 0.4 * typical for day in gym.holidays)


def test_sundays_are_lighter_than_weekdays(local_days: Counter[date]) -> None:
    by_weekday = Counter[int]()
    for day, count in local_days.items():
        by_weekday[day.weekday()] += count
    assert by_weekday[6] < 0.5 * by_weekday[1]


def test_same_seed_same_gym_other_seed_other_gym() -> None:
    def make(seed: int) -> SyntheticGym:
        return generate_gym(students=150, start=START, days=60, tz=SAO_PAULO, seed=seed)

    assert make(11) == make(11)
    assert make(11).checkins != make(12).checkins


def test_brazilian_holiday_calendar() -> None:
    assert easter(2026) == date(2026, 4, 5) and easter(2025) == date(2025, 4, 20)
    holidays = brazil_holidays(2026)
    assert holidays[date(2026, 2, 16)] == holidays[date(2026, 2, 17)] == "Carnaval"
    assert holidays[date(2026, 4, 3)] == "Sexta-feira Santa"
    assert date(2026, 11, 20) in holidays and date(2023, 11, 20) not in brazil_holidays(2023)


def test_rejects_empty_gyms() -> None:
    with pytest.raises(ValueError):
        generate_gym(students=0, start=START, tz=SAO_PAULO)
