from adjudicator.dedup.supplementary import supplementary_code, supplementary_finding


def test_codes_compiled_and_python_agree():
    cases = [
        ((True, True, 100, 70, 30, True), 0),   # start + waiting = the first valid day
        ((True, True, 99, 70, 30, True), 2),    # one day short: only the waiting period
        ((True, True, 99, 70, 30, False), 1),   # no valid basic cover: not valid whatever the waiting
        ((True, False, 200, 70, 0, True), 1),   # supplementary span suspended
        ((False, False, 200, 0, 0, True), 1),   # no span
        ((True, True, 70, 70, -5, True), 0),    # a negative waiting period counts as 0
    ]
    for args, want in cases:
        assert supplementary_code(*args) == want
        assert supplementary_code.py_func(*args) == want


def test_findings():
    assert supplementary_finding(0) is None
    assert supplementary_finding(1) == ("SUPP.NOT_VALID", "SUPP_NOT_VALID", "flag", "member")
    assert supplementary_finding(2) == ("SUPP.NOT_VALID", "SUPP_WAITING_PERIOD", "flag", "member")
