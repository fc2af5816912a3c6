// synod-lincheck-gen: writes a generated linearizable history (JSON Lines) to
// stdout, for timing synod-lincheck.
//   synod-lincheck-gen --model register|counter|kv --ops N [--processes P]
//                      [--info K] [--failed K] [--keys K] [--seed S]
// Exit 0 on success, 2 for bad arguments.
#include <iostream>
#include <string>

#include "lincheck/generator.h"

int main(int argc, char** argv) {
  synod::lincheck::GeneratorOptions options;
  if (argc % 2 == 0) {
    std::cerr << "synod-lincheck-gen: every option takes one value\n";
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    std::string value = argv[i + 1];
    try {
      if (arg == "--model") {
        options.model = value;
      } else if (arg == "--ops") {
        options.operations = std::stoi(value);
      } else if (arg == "--processes") {
        options.processes = std::stoi(value);
      } else if (arg == "--info") {
        options.info_operations = std::stoi(value);
      } else if (arg == "--failed") {
        options.failed_operations = std::stoi(value);
      } else if (arg == "--keys") {
        options.keys = std::stoi(value);
      } else if (arg == "--seed") {
        options.seed = std::stoull(value);
      } else {
        std::cerr << "synod-lincheck-gen: unknown option " << arg << "\n";
        return 2;
      }
    } catch (...) {
      std::cerr << "synod-lincheck-gen: bad value for " << arg << "\n";
      return 2;
    }
  }
  if (options.model != "register" && options.model != "counter" && options.model != "kv") {
    std::cerr << "synod-lincheck-gen: --model must be register, counter or kv\n";
    return 2;
  }
  if (options.processes < 1 || options.operations < 1 || options.keys < 1 ||
      options.info_operations < 0 || options.failed_operations < 0) {
    std::cerr << "synod-lincheck-gen: --ops, --processes and --keys must be positive, "
                 "--info and --failed not negative\n";
    return 2;
  }
  synod::lincheck::GenerateHistory(options, std::cout);
  return 0;
}
