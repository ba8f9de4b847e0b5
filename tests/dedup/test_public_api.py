import adjudicator.dedup as dedup
import adjudicator.eligibility as eligibility


def test_all_is_complete_and_importable():
    for module in (dedup, eligibility):
        public = {n for n in vars(module) if not n.startswith("_") and n not in {
            "batch", "index", "kernels", "point", "overlap", "duplicates", "supplementary"}}
        assert public == set(module.__all__), module.__name__
        for name in module.__all__:
            assert getattr(module, name) is not None
