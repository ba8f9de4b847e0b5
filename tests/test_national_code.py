import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adjudicator import national_code as nc

# Worked by hand:
#   0012345679: 0·10+0·9+1·8+2·7+3·6+4·5+5·4+6·3+7·2 = 112, 112 mod 11 = 2 ≥ 2 → check 11−2 = 9
#   1234567891: 1·10+2·9+3·8+4·7+5·6+6·5+7·4+8·3+9·2 = 210, 210 mod 11 = 1 < 2 → check 1
#   0000000010: 1·2 = 2 → r = 2 → check 9, so 0000000019 is valid and 0000000010 is not
#   1000000000: 1·10 = 10 → check 1 → 1000000001
#   0000000020: 2·2 = 4 → r = 4 → check 7 → 0000000027
#   5000000001: 5·10 = 50, 50 mod 11 = 6 → check 5 → 5000000005
VALID = ["0012345679", "1234567891", "0000000019", "1000000001", "0000000027", "5000000005"]


@pytest.mark.parametrize("code", VALID)
def test_hand_computed_codes_are_valid(code):
    assert nc.is_valid(code)
    assert nc.why_invalid(code) is None
    assert nc.make(code[:9]) == code


def test_check_digit_zero_when_remainder_zero():
    # 000000031: 3·3 + 1·2 = 11 → r = 0 → check 0
    assert nc.make("000000031") == "0000000310"
    assert nc.is_valid("0000000310")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("001234567", nc.WRONG_LENGTH),
        ("00123456790", nc.WRONG_LENGTH),
        ("", nc.WRONG_LENGTH),
        ("001234567x", nc.NOT_DIGITS),
        ("0012 45679", nc.NOT_DIGITS),
        ("۰۰۱۲۳۴۵۶۷۹", nc.NOT_DIGITS),  # Persian digits are not ASCII digits
        ("0012345678", nc.BAD_CHECKSUM),
        ("1234567890", nc.BAD_CHECKSUM),
        ("0000000000", nc.ALL_EQUAL),
        ("1111111111", nc.ALL_EQUAL),
        ("9999999999", nc.ALL_EQUAL),
    ],
)
def test_each_failure_kind(code, reason):
    assert nc.why_invalid(code) == reason
    assert not nc.is_valid(code)
    got = pl.select(nc.invalid_reason_expr(pl.lit(code))).item()
    assert got == reason


def test_all_equal_codes_pass_the_checksum_but_are_invalid():
    for d in "0123456789":
        assert nc.make(d * 9) == d * 10
        assert nc.why_invalid(d * 10) == nc.ALL_EQUAL


def test_make_rejects_bad_prefix():
    with pytest.raises(ValueError):
        nc.make("12345678")
    with pytest.raises(ValueError):
        nc.make("12345678a")


def test_expr_null_in_null_out():
    df = pl.DataFrame({"c": [None, "0012345679", "0012345678"]}, schema={"c": pl.String})
    out = df.select(v=nc.valid_expr(pl.col("c")), r=nc.invalid_reason_expr(pl.col("c")))
    assert out["v"].to_list() == [None, True, False]
    assert out["r"].to_list() == [None, None, nc.BAD_CHECKSUM]
    assert out["v"].dtype == pl.Boolean


def test_random_codes_are_valid_and_distinct_enough():
    codes = nc.random_codes(2000, np.random.default_rng(7))
    assert len(codes) == 2000
    assert all(len(c) == 10 for c in codes)
    assert all(nc.is_valid(str(c)) for c in codes)
    assert len(set(codes.tolist())) > 1990
    # deterministic for a seed
    assert (nc.random_codes(5, np.random.default_rng(1)) == nc.random_codes(5, np.random.default_rng(1))).all()
    ok = pl.DataFrame({"c": codes.tolist()}).select(nc.valid_expr(pl.col("c")).all()).item()
    assert ok


def test_random_codes_never_all_equal():
    class Same:
        def integers(self, lo, hi, size, dtype):
            return np.full(size, 3, dtype=dtype)

    codes = nc.random_codes(3, Same())
    assert all(nc.is_valid(str(c)) for c in codes)


_code_like = st.one_of(
    st.text(alphabet="0123456789", min_size=10, max_size=10),
    st.text(alphabet="0123456789", min_size=0, max_size=12),
    st.text(alphabet="0123456789a -۱", min_size=8, max_size=11),
    st.text(max_size=12),
    st.sampled_from(VALID + [d * 10 for d in "0123456789"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_code_like, min_size=1, max_size=60))
def test_vectorized_equals_scalar(codes):
    df = pl.DataFrame({"c": codes}, schema={"c": pl.String})
    out = df.select(r=nc.invalid_reason_expr(pl.col("c")), v=nc.valid_expr(pl.col("c")))
    assert out["r"].to_list() == [nc.why_invalid(c) for c in codes]
    assert out["v"].to_list() == [nc.is_valid(c) for c in codes]
