// TwoEndedArray: a contiguous array of trivially copyable elements with free room at both ends,
// so that inserting or erasing at position i moves min(i, size - i) elements: the side that is
// shorter slides by one. A sorted list whose changes land near either end (the first or last
// credential of a tier going to cooldown and coming back) changes in constant time, and one
// changing in the middle moves half of what a std::vector would. Reading is a std::vector's:
// one pointer and a size.
#ifndef AUTHROUTER_INTERNAL_TWO_ENDED_ARRAY_H_
#define AUTHROUTER_INTERNAL_TWO_ENDED_ARRAY_H_

#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>

namespace authrouter::internal {

template <typename T>
class TwoEndedArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "TwoEndedArray moves its elements with memmove");

 public:
  TwoEndedArray() = default;
  TwoEndedArray(const TwoEndedArray&) = delete;
  TwoEndedArray& operator=(const TwoEndedArray&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return first_; }
  const T* data() const { return first_; }
  T* begin() { return first_; }
  T* end() { return first_ + size_; }
  const T* begin() const { return first_; }
  const T* end() const { return first_ + size_; }
  T& operator[](size_t i) { return first_[i]; }
  const T& operator[](size_t i) const { return first_[i]; }

  // Insert puts `value` at position `pos` (0 <= pos <= size()).
  void Insert(size_t pos, const T& value) {
    const size_t front_room = static_cast<size_t>(first_ - buf_.get());
    const size_t back_room = capacity_ - front_room - size_;
    const bool front_shorter = pos < size_ - pos;
    if ((front_shorter && front_room > 0) || (back_room == 0 && front_room > 0)) {
      std::memmove(first_ - 1, first_, pos * sizeof(T));  // the front part slides left
      --first_;
    } else if (back_room > 0) {
      std::memmove(first_ + pos + 1, first_ + pos, (size_ - pos) * sizeof(T));
    } else {
      Grow(pos);
    }
    first_[pos] = value;
    ++size_;
  }

  // Erase removes the element at `pos` (0 <= pos < size()).
  void Erase(size_t pos) {
    if (pos < size_ - 1 - pos) {
      std::memmove(first_ + 1, first_, pos * sizeof(T));  // the front part slides right
      ++first_;
    } else {
      std::memmove(first_ + pos, first_ + pos + 1, (size_ - 1 - pos) * sizeof(T));
    }
    --size_;
    if (size_ == 0) first_ = buf_.get() + capacity_ / 2;  // room on both sides again
  }

 private:
  // Grow moves the elements into a buffer twice as large, with equal room on both sides and a
  // hole at `pos`.
  void Grow(size_t pos) {
    const size_t capacity = capacity_ == 0 ? 8 : capacity_ * 2;
    std::unique_ptr<T[]> buf(new T[capacity]);
    T* first = buf.get() + (capacity - size_ - 1) / 2;
    if (size_ > 0) {
      std::memcpy(first, first_, pos * sizeof(T));
      std::memcpy(first + pos + 1, first_ + pos, (size_ - pos) * sizeof(T));
    }
    buf_ = std::move(buf);
    capacity_ = capacity;
    first_ = first;
  }

  std::unique_ptr<T[]> buf_;
  size_t capacity_ = 0;
  T* first_ = nullptr;
  size_t size_ = 0;
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_TWO_ENDED_ARRAY_H_
