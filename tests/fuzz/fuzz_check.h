// FUZZ_CHECK(cond): a property every input must keep; its failure aborts, so
// libFuzzer reports it as a crash with the input that broke it.
#ifndef FLOPD_TESTS_FUZZ_FUZZ_CHECK_H_
#define FLOPD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

#endif  // FLOPD_TESTS_FUZZ_FUZZ_CHECK_H_
