def test_import():
    import losses_core
    assert losses_core.__version__
