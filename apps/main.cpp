#include <cstdio>
int main() { std::puts("ddkit"); return 0; }
