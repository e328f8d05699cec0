"""``Results`` of ``pona evaluate``: the numbers, what was skipped and why, rendered as a terminal
table, Markdown or JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field


@dataclass
class Metric:
    """One row of the report. ``value`` is None when the metric was skipped; ``error`` says why."""

    key: str              # stable identifier: ssim, mask_ssim, is, mask_is, psnr, pckh, l1, colour_de, fid_torchvision, ...
    label: str            # as printed: SSIM, mask-SSIM, IS, ...
    protocol: str         # legacy | modern | both
    value: float | None = None
    std: float | None = None
    detail: str = ""      # how it was computed, counts
    error: str | None = None

    def formatted(self) -> str:
        if self.value is None:
            return "skipped"
        if math.isinf(self.value) or math.isnan(self.value):
            return str(self.value)
        digits = (1 if self.key == "colour_de" else 2 if self.key.startswith(("psnr", "fid"))
                  else 3 if self.key in ("is", "mask_is") else 4)
        text = f"{self.value:.{digits}f}"
        return text + (f" ± {self.std:.{digits}f}" if self.std is not None else "")


@dataclass
class Results:
    """What ``evaluate`` measured on one folder of generated images."""

    generated_dir: str
    data_dir: str
    split: str
    protocol: str
    pairs: int                       # distinct pairs in the pairs file
    evaluated: int                   # pairs with a generated image, used by every metric
    missing: list[str] = field(default_factory=list)   # expected <from>___<to>.png files not found
    extra: list[str] = field(default_factory=list)     # image files that match no pair (not used)
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> Metric:
        for m in self.metrics:
            if m.key == key:
                return m
        raise KeyError(key)

    def value(self, key: str) -> float | None:
        return self[key].value

    # -- rendering ---------------------------------------------------------------------------------

    def _summary(self) -> str:
        text = f"{self.evaluated} of {self.pairs} pairs evaluated"
        if self.missing:
            text += f", {len(self.missing)} generated image(s) missing (e.g. {', '.join(self.missing[:3])})"
        if self.extra:
            text += f", {len(self.extra)} extra file(s) not in the pairs file (e.g. {', '.join(self.extra[:3])})"
        return text

    def _rows(self) -> list[tuple[str, str, str, str]]:
        # A skipped row shows the first sentence of its error; the full errors follow the table once.
        return [(m.label, m.protocol, m.formatted(), m.error.split(". ")[0] if m.error else m.detail)
                for m in self.metrics]

    def _errors(self) -> list[str]:
        return list(dict.fromkeys(m.error for m in self.metrics if m.error))

    def to_text(self) -> str:
        """A plain-text table for the terminal."""
        head = ("metric", "protocol", "value", "how / why skipped")
        rows = self._rows()
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
        lines = [f"pona evaluate: {self.generated_dir} against {self.data_dir} ({self.split} split), "
                 f"protocol {self.protocol}", self._summary(), ""]
        for r in [head, *rows]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
        lines += [""] + [f"skipped: {e}" for e in self._errors()] + [f"note: {n}" for n in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def to_markdown(self) -> str:
        lines = [f"**pona evaluate** ({self.protocol} protocol, {self.split} split): {self._summary()}.", "",
                 "| metric | protocol | value | how / why skipped |", "|---|---|---|---|"]
        for row in self._rows():
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")  # escape | in cells
        if self.notes or self._errors():
            lines += [""] + [f"- skipped: {e}" for e in self._errors()] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        d = asdict(self)
        for m in d["metrics"]:  # JSON has no inf/nan: write them as strings
            for k in ("value", "std"):
                if isinstance(m[k], float) and not math.isfinite(m[k]):
                    m[k] = str(m[k])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def __str__(self) -> str:
        return self.to_text()
