// A small fixed thread pool. A job is a function called with a task index; the caller takes
// tasks too. Between jobs a worker first spins for a short while (VNET_SPIN_US, default 50 µs)
// and then sleeps on a condition variable; the caller waits for the last task the same way. A
// training step runs about a thousand jobs of a millisecond or less, back to back, and a
// condition-variable wake-up costs tens of microseconds on each side of every one of them.
#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <string>
#include <system_error>
#include <vector>

#include "env.h"
#include "error.h"

namespace vnet {

namespace {

constexpr int kMaxThreads = 256;  // also the CLI's bound on --threads / VNET_NUM_THREADS

class Pool {
 public:
  // The default size never throws: a failed thread start leaves a smaller pool.
  explicit Pool(int n) {
    try {
      start(n);
    } catch (const VnetError&) {
    }
  }
  ~Pool() { stop(); }

  int size() const { return nthreads_.load(); }

  // Waits for a job in flight (another JS thread's op) before replacing the workers, so that a
  // resize never pulls threads out from under a running job.
  void resize(int n) {
    VNET_CHECK(n >= 1 && n <= kMaxThreads, VNET_E_INVALID_ARG,
               "thread count must be in 1.." + std::to_string(kMaxThreads) + ", got " + std::to_string(n));
    VNET_CHECK(!in_job_, VNET_E_INVALID_ARG, "setNumThreads cannot be called from inside a parallel job");
    std::lock_guard<std::mutex> serial(run_mu_);
    stop();
    start(n);
  }

  void run(int ntasks, const std::function<void(int)>& fn) {
    if (ntasks <= 1 || nthreads_ == 1 || in_job_) {
      for (int t = 0; t < ntasks; t++) fn(t);
      return;
    }
    std::lock_guard<std::mutex> serial(run_mu_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      ntasks_ = ntasks;
      next_.store(0);
      pending_.store(nthreads_ - 1);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    in_job_ = true;
    drain();
    in_job_ = false;
    if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lk(mu_);
      done_cv_.wait(lk, [this] { return pending_.load() == 0; });
    }
    fn_ = nullptr;
  }

 private:
  void drain() {
    for (;;) {
      int t = next_.fetch_add(1);
      if (t >= ntasks_) break;
      (*fn_)(t);
    }
  }

  // Polls `ready` for up to the spin time; true as soon as it holds.
  template <class F>
  static bool spin_until(F ready) {
    static const auto limit = std::chrono::microseconds(spin_us());
    if (limit.count() <= 0) return ready();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0;; i++) {
      if (ready()) return true;
      if ((i & 63) == 63 && std::chrono::steady_clock::now() - t0 > limit) return false;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  static long spin_us() {
    const char* e = env::get("VNET_SPIN_US");
    // At most 100 ms: a huge value would keep idle workers burning their cores between steps.
    return e && *e ? std::min(100000L, std::max(0L, std::strtol(e, nullptr, 10))) : 50L;
  }

  // `seen`: the job generation when the worker started, so it never mistakes an old job for new.
  void loop(int, uint64_t seen) {
    for (;;) {
      if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen || quit_.load(); })) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return quit_.load() || generation_.load() != seen; });
      }
      if (quit_.load()) return;
      {
        // fn_ and ntasks_ were written under mu_ before the generation moved.
        std::lock_guard<std::mutex> lk(mu_);
        seen = generation_.load();
      }
      in_job_ = true;
      drain();
      in_job_ = false;
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(mu_);
        done_cv_.notify_one();
      }
    }
  }

  // Starts n-1 workers. If the system refuses one (thread limit, memory), the pool keeps the
  // ones it got, so a job never waits for a worker that does not exist, and says so.
  void start(int n) {
    n = std::max(1, std::min(n, kMaxThreads));
    quit_.store(false);
    std::string why;
    for (int i = 1; i < n; i++) {
      try {
        workers_.emplace_back([this, i, g = generation_.load()] { loop(i, g); });  // no job is in flight
      } catch (const std::system_error& e) {
        why = e.what();
        break;
      }
    }
    nthreads_ = int(workers_.size()) + 1;
    if (!why.empty())
      throw_error(ErrorCode::VNET_E_OOM, "could start only " + std::to_string(nthreads_.load()) + " of " +
                                             std::to_string(n) + " threads (" + why + "); running with " +
                                             std::to_string(nthreads_.load()));
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_.store(true);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::atomic<int> nthreads_{1};
  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* fn_ = nullptr;
  int ntasks_ = 0;
  std::atomic<int> next_{0};
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> quit_{false};
  static thread_local bool in_job_;
};

thread_local bool Pool::in_job_ = false;

// VNET_NUM_THREADS when it is a number in range (the CLI refuses others with a clear error;
// here an out-of-range value is clamped), else the hardware concurrency.
int default_threads() {
  if (const char* e = env::get("VNET_NUM_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(e, &end, 10);
    if (end != e && *end == 0 && n > 0) return int(std::min<long>(n, kMaxThreads));
  }
  unsigned hc = std::thread::hardware_concurrency();
  return std::min(kMaxThreads, hc ? int(hc) : 1);
}

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }

void parallel_tasks(int ntasks, const std::function<void(int)>& fn) { pool().run(ntasks, fn); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = std::min<int64_t>(num_threads(), (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  int64_t step = (n + chunks - 1) / chunks;
  pool().run(int(chunks), [&](int t) {
    int64_t b = t * step, e = std::min(n, b + step);
    if (b < e) fn(b, e);
  });
}

}  // namespace vnet
