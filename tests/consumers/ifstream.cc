// C++ std::ifstream: libstdc++ opens with fopen64 (glibc-internal openat)
// and then reads with read()/lseek64 through the PLT on fileno().
// usage: ifstream FILE
#include <cstdint>
#include <fstream>
#include <iostream>
#include <vector>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	std::ifstream in(argv[1], std::ios::binary);
	if (!in) {
		std::cerr << "ifstream: cannot open " << argv[1] << "\n";
		return 1;
	}
	in.seekg(0, std::ios::end);
	std::streamoff size = in.tellg();
	in.seekg(0, std::ios::beg);
	std::vector<char> buf(static_cast<size_t>(size));
	in.read(buf.data(), size);
	uint64_t h = 0xcbf29ce484222325ULL;
	for (char c : buf) {
		h ^= static_cast<unsigned char>(c);
		h *= 0x100000001b3ULL;
	}
	std::cout << "size=" << size << " got=" << in.gcount() << " fnv=" << std::hex << h << "\n";
	in.seekg(size / 2);
	char b[16];
	in.read(b, sizeof(b));
	std::cout << "mid got=" << std::dec << in.gcount() << "\n";
	return 0;
}
