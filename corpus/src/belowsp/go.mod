module belowsp

go 1.19
