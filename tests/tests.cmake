# One line per test file: the file name and the layers it links.
ddkit_test(test_util ddkit_util)
ddkit_test(test_augment ddkit_augment)
ddkit_test(test_models ddkit_models)
ddkit_test(test_train ddkit_train)
ddkit_test(test_distill ddkit_distill)
ddkit_test(test_data ddkit_data)
ddkit_test(test_cli ddkit_data)
