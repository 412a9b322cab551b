#include "shape.hpp"

#include <iostream>
#include <memory>

namespace geo {

template <typename T>
double Box<T>::area() const {
  return static_cast<double>(width_) * width_;
}

}  // namespace geo

// Builds a box and prints its area.
int main() {
  auto box = std::make_unique<geo::Box<int>>(3);
  std::cout << box->area() << " " << box->name() << std::endl;
  geo::Shape *raw = new geo::Box<double>(1.5);
  delete raw;
  return 0;
}
