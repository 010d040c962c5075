def test_stage_titles_spell_abbreviations():
    from recnb.reporting.pages import stage_title

    assert stage_title("05_ab_simulation") == "A/B simulation"
    assert stage_title("03_model_comparison") == "Model comparison"
