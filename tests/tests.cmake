# One line per test file: the file name and the layers it links.
ddkit_test(test_util ddkit_util)
ddkit_test(test_augment ddkit_augment)
ddkit_test(test_models ddkit_models)
