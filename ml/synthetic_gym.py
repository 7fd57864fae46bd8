"""A deterministic synthetic gym: students with weekly habits, holidays, closures and members who fade out and quit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

OPEN_MINUTE = 5 * 60
CLOSE_MINUTE = 23 * 60  # exclusive: the last check-in is at 22:59:59
# (first hour, last hour exclusive) of the morning, lunch and evening windows
WINDOWS = np.array([[6, 9], [11, 14], [17, 22]])
WINDOW_WEIGHTS = np.array([0.3, 0.2, 0.5])
# Monday..Sunday: Saturday is lighter and Sunday much lighter, as in most gyms
WEEKDAY_WEIGHTS = np.array([1.0, 1.0, 1.0, 0.95, 0.85, 0.6, 0.25])
SESSIONS_PER_WEEK = np.array([1, 2, 3, 4, 5, 6])
SESSIONS_WEIGHTS = np.array([0.04, 0.14, 0.28, 0.28, 0.16, 0.1])
HOLIDAY_FACTOR = 0.2

FIRST_NAMES = ("Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "João",
               "Juliana", "Lucas", "Larissa", "Mateus", "Mariana", "Nicolas", "Natália", "Pedro", "Patrícia", "Rafael",
               "Renata", "Samuel", "Sofia", "Thiago", "Vitória", "Gustavo", "Beatriz", "Leonardo", "Camila", "Rodrigo",
               "Fernanda", "Vinícius", "Letícia", "André", "Amanda", "Caio", "Bianca", "Daniel", "Júlia", "Marcelo")
LAST_NAMES = ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
              "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa",
              "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas")


@dataclass(frozen=True)
class SyntheticGym:
    students: list[tuple[int, str]]
    checkins: list[tuple[int, datetime]]
    churned: frozenset[int]
    start: date
    end: date
    holidays: frozenset[date] = frozenset()
    closed_days: frozenset[date] = frozenset()


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def brazil_holidays(year: int) -> dict[date, str]:
    """National holidays plus Carnival and Corpus Christi, which most gyms treat as holidays too."""
    e = easter(year)
    days = {
        date(year, 1, 1): "Confraternização Universal", date(year, 4, 21): "Tiradentes",
        date(year, 5, 1): "Dia do Trabalho", date(year, 9, 7): "Independência",
        date(year, 10, 12): "Nossa Senhora Aparecida", date(year, 11, 2): "Finados",
        date(year, 11, 15): "Proclamação da República", date(year, 12, 25): "Natal",
        e - timedelta(days=48): "Carnaval", e - timedelta(days=47): "Carnaval",
        e - timedelta(days=2): "Sexta-feira Santa", e + timedelta(days=60): "Corpus Christi",
    }
    if year >= 2024:  # Consciência Negra became a national holiday by Law 14.759/2023
        days[date(year, 11, 20)] = "Consciência Negra"
    return days


def _hour_offsets(dates: list[date], tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """UTC offset (s) per (day, hour) and whether every minute of that local hour exists (DST gaps do not)."""
    offsets = np.zeros((len(dates), 24), dtype=np.int64)
    valid = np.ones((len(dates), 24), dtype=bool)
    for i, d in enumerate(dates):
        for h in range(OPEN_MINUTE // 60, CLOSE_MINUTE // 60):
            first, last = (datetime(d.year, d.month, d.day, h, m, tzinfo=tz) for m in (0, 59))
            offsets[i, h] = int(first.utcoffset().total_seconds())  # type: ignore[union-attr]
            valid[i, h] = all(t.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == t.replace(tzinfo=None)
                              for t in (first, last)) and first.utcoffset() == last.utcoffset()
    return offsets, valid


def _habits(rng: np.random.Generator, n: int, days: int) -> dict[str, np.ndarray]:
    """Per-student traits: joining day, weekly plan, hour windows, churn plan, breaks."""
    new = rng.random(n) < 0.25
    join = np.where(new, rng.integers(1, max(days - 14, 2), n), 0)
    k = rng.choice(SESSIONS_PER_WEEK, n, p=SESSIONS_WEIGHTS)
    # Gumbel top-k: k distinct preferred weekdays per student, biased by WEEKDAY_WEIGHTS
    keys = np.log(WEEKDAY_WEIGHTS)[None, :] + rng.gumbel(size=(n, 7))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    preferred = rank < k[:, None]
    irregular = rng.random(n) < 0.15
    last_possible_quit = days - 28  # churners stay silent for at least their last four weeks
    earliest_quit = join + 14
    can_churn = earliest_quit < last_possible_quit
    churn = can_churn & (rng.random(n) < np.where(new, 0.42, 0.3))
    quit_day = np.where(churn, rng.integers(np.minimum(earliest_quit, last_possible_quit - 1), last_possible_quit),
                        days + 10_000)
    fade_len = np.where(churn & (rng.random(n) < 0.75), rng.integers(28, 64, n), 0)
    has_break = rng.random(n) < 0.25
    break_start = rng.integers(0, days, n)
    break_len = rng.integers(7, 36, n)
    dip = rng.random(n) < 0.12  # loyal members whose attendance sags for a while and then recovers
    dip_start = rng.integers(0, days, n)
    return {
        "join": join, "preferred": preferred, "k": k, "irregular": irregular,
        "attend": rng.beta(10, 2, n), "extra": rng.uniform(0.0, 0.08, n),
        "churn": churn, "quit": quit_day, "fade": fade_len,
        "break": has_break, "break_start": break_start, "break_len": break_len,
        "dip": dip, "dip_start": dip_start, "dip_len": rng.integers(14, 36, n),
        "windows": rng.choice(3, (n, 2), p=WINDOW_WEIGHTS), "primary": rng.uniform(0.7, 1.0, n),
        "minute": rng.uniform(0, 1, (n, 2)), "jitter": rng.uniform(8, 30, n),
    }


def _attendance_probability(t: dict[str, np.ndarray], weekday: np.ndarray, day_factor: np.ndarray) -> np.ndarray:
    """(students, days) probability of a visit on each day."""
    n, days = len(t["join"]), len(weekday)
    d = np.arange(days)[None, :]
    planned = np.where(t["preferred"][:, weekday], t["attend"][:, None], t["extra"][:, None])
    flat = t["attend"][:, None] * t["k"][:, None] / 7.0 * (WEEKDAY_WEIGHTS[weekday] / WEEKDAY_WEIGHTS.mean())[None, :]
    p = np.where(t["irregular"][:, None], np.broadcast_to(flat, (n, days)), planned)
    p = p * day_factor[None, :] * (d >= t["join"][:, None]) * (d < t["quit"][:, None])
    fading = t["fade"][:, None] > 0
    progress = (d - (t["quit"] - t["fade"])[:, None]) / np.maximum(t["fade"], 1)[:, None]
    p = p * np.where(fading & (progress > 0), np.minimum(np.clip(1.0 - progress, 0.0, 1.0) ** 1.5 + 0.12, 1.0), 1.0)
    on_break = t["break"][:, None] & (d >= t["break_start"][:, None])
    on_break &= d < (t["break_start"] + t["break_len"])[:, None]
    in_dip = t["dip"][:, None] & (d >= t["dip_start"][:, None]) & (d < (t["dip_start"] + t["dip_len"])[:, None])
    return np.clip(p * np.where(on_break, 0.0, 1.0) * np.where(in_dip, 0.35, 1.0), 0.0, 1.0)


def _visit_seconds(rng: np.random.Generator, t: dict[str, np.ndarray], who: np.ndarray) -> np.ndarray:
    """Local second-of-day of each visit, near the student's usual time."""
    m = len(who)
    slot = (rng.random(m) >= t["primary"][who]).astype(np.int64)
    window = t["windows"][who, slot]
    window = np.where(t["irregular"][who], rng.choice(3, m, p=WINDOW_WEIGHTS), window)
    lo, hi = WINDOWS[window, 0] * 60, WINDOWS[window, 1] * 60
    usual = lo + t["minute"][who, slot] * (hi - lo)
    usual = np.where(t["irregular"][who], rng.uniform(lo, hi), usual)
    minute = np.rint(usual + rng.normal(0.0, t["jitter"][who])).astype(np.int64)
    minute = np.clip(minute, OPEN_MINUTE, CLOSE_MINUTE - 1)
    return minute * 60 + rng.integers(0, 60, m)


def generate_gym(*, students: int = 3000, start: date, days: int = 182, tz: ZoneInfo, seed: int = 7) -> SyntheticGym:
    """Simulate `days` days of check-ins from `start` (local dates in `tz`); same seed, same gym."""
    if students < 1 or days < 1:
        raise ValueError("students and days must be positive")
    rng = np.random.default_rng(seed)
    dates = [start + timedelta(days=i) for i in range(days)]
    end = start + timedelta(days=days)
    holidays = {h for y in range(start.year, end.year + 1) for h in brazil_holidays(y) if start <= h < end}
    closed = {d for d in holidays if (d.month, d.day) in {(1, 1), (12, 25)}}
    ordinary = [i for i, d in enumerate(dates) if d not in holidays and d.weekday() != 6]
    for i in rng.choice(ordinary, min(len(ordinary), int(rng.integers(1, 3))), replace=False):
        closed.add(dates[int(i)])  # maintenance closures
    weekday = np.array([d.weekday() for d in dates])
    day_factor = np.array([0.0 if d in closed else HOLIDAY_FACTOR if d in holidays else 1.0 for d in dates])

    traits = _habits(rng, students, days)
    visits = rng.random((students, days)) < _attendance_probability(traits, weekday, day_factor)
    who, day = np.nonzero(visits)
    second = _visit_seconds(rng, traits, who)

    offsets, valid = _hour_offsets(dates, tz)
    hour = second // 3600
    keep = valid[day, hour]
    who, day, second, hour = who[keep], day[keep], second[keep], hour[keep]
    local_midnight = np.array([(d - date(1970, 1, 1)).days * 86_400 for d in dates], dtype=np.int64)
    epoch = local_midnight[day] + second - offsets[day, hour]
    order = np.lexsort((who, epoch))
    ids, epoch = who[order] + 1, epoch[order]
    checkins = [(i, datetime.fromtimestamp(s, UTC)) for i, s in zip(ids.tolist(), epoch.tolist(), strict=True)]

    firsts = rng.choice(len(FIRST_NAMES), students)
    lasts = rng.choice(len(LAST_NAMES), (students, 2))
    names = [(i + 1, f"{FIRST_NAMES[f]} {LAST_NAMES[a]} {LAST_NAMES[b]}")
             for i, (f, (a, b)) in enumerate(zip(firsts.tolist(), lasts.tolist(), strict=True))]
    churned = frozenset(int(i) + 1 for i in np.nonzero(traits["churn"])[0])
    return SyntheticGym(students=names, checkins=checkins, churned=churned, start=start,
                        end=end, holidays=frozenset(holidays), closed_days=frozenset(closed))
