module bigtable

go 1.19
