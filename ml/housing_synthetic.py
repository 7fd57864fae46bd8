"""Synthetic São Paulo listings whose price is a known linear function of their features (tests, benchmarks,
`make up`'s demo)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# (name, price offset in R$, share of listings): São Paulo districts from the priciest down
BAIRROS: tuple[tuple[str, float, float], ...] = (
    ("Jardim Paulista", 420_000.0, 0.08), ("Pinheiros", 350_000.0, 0.12), ("Moema", 310_000.0, 0.10),
    ("Vila Mariana", 220_000.0, 0.15), ("Perdizes", 190_000.0, 0.12), ("Tatuapé", 90_000.0, 0.15),
    ("Santana", 50_000.0, 0.13), ("Itaquera", 0.0, 0.15),
)
SYNTHETIC_COEFFICIENTS: dict[str, float] = {
    "intercept": 120_000.0, "area_m2": 6_500.0, "quartos": 18_000.0, "banheiros": 25_000.0, "vagas": 35_000.0,
    "idade_anos": -2_500.0, "casa": 90_000.0, "noise_sd": 90_000.0,
}
MISSING_SHARE = {"vagas": 0.03, "idade_anos": 0.04}


def synthetic_housing(n: int = 5000, *, seed: int = 0) -> list[dict[str, Any]]:
    """`n` São Paulo listings whose price is a known linear function of the features plus Gaussian noise:

        preco = 120,000 + 6,500·area_m2 + 18,000·quartos + 25,000·banheiros + 35,000·vagas − 2,500·idade_anos
                + BAIRROS offset of bairro + 90,000·[tipo == "casa"] + N(0, 90,000²),   rounded to R$ 100

    (SYNTHETIC_COEFFICIENTS, BAIRROS). The price uses the true vagas and idade_anos; about 3% and 4% of them are then
    blanked (None), as listings often leave them out.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    c = SYNTHETIC_COEFFICIENTS
    casa = rng.random(n) < 0.3
    area = np.where(casa, rng.lognormal(math.log(140), 0.35, n), rng.lognormal(math.log(68), 0.35, n))
    area = np.round(np.clip(area, np.where(casa, 50, 25), np.where(casa, 450, 260)), 1)
    quartos = np.clip(np.rint(area / 30 + rng.normal(0, 0.6, n)), 1, 5)
    banheiros = np.clip(np.rint(1 + (quartos - 1) * 0.7 + rng.normal(0, 0.5, n)), 1, 5)
    vagas = np.clip(np.rint(area / 60 + casa + rng.normal(0, 0.6, n)), 0, 4)
    idade = np.clip(np.rint(rng.gamma(2.0, 8.0, n)), 0, 60)
    names = [name for name, _, _ in BAIRROS]
    shares = np.array([share for _, _, share in BAIRROS])
    bairro = rng.choice(len(BAIRROS), size=n, p=shares / shares.sum())
    offsets = np.array([offset for _, offset, _ in BAIRROS])
    preco = (c["intercept"] + c["area_m2"] * area + c["quartos"] * quartos + c["banheiros"] * banheiros
             + c["vagas"] * vagas + c["idade_anos"] * idade + offsets[bairro] + c["casa"] * casa
             + rng.normal(0, c["noise_sd"], n))
    hidden = {name: rng.random(n) < share for name, share in MISSING_SHARE.items()}
    return [{
        "area_m2": float(area[i]),
        "quartos": int(quartos[i]),
        "banheiros": int(banheiros[i]),
        "vagas": None if hidden["vagas"][i] else int(vagas[i]),
        "idade_anos": None if hidden["idade_anos"][i] else int(idade[i]),
        "bairro": names[bairro[i]],
        "tipo": "casa" if casa[i] else "apartamento",
        "preco": float(round(preco[i], -2)),
    } for i in range(n)]
