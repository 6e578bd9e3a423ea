// SPDX-License-Identifier: Apache-2.0
// parser/progress.h — the state every incremental parser reports. Pure.
#ifndef SALLYPORT_PARSER_PROGRESS_H_
#define SALLYPORT_PARSER_PROGRESS_H_
namespace sallyport::parser {
// kNeedMore: feed more bytes. kDone: the result is ready. kError: the input
// is refused; the parser says what to answer the peer with.
enum class Progress { kNeedMore, kDone, kError };
}  // namespace sallyport::parser
#endif
