pytest_plugins = ["pytester"]  # tests of the emulators pytest plugin run inner pytest sessions
