module example.com/authrouter-example

go 1.19
