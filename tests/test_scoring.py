from codepager.scoring import edit_similarity


def test_edit_similarity() -> None:
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("abc", "abc") == 1.0
    assert edit_similarity("abc", "abd") == 1 - 1 / 3
    assert edit_similarity("", "xy") == 0.0
