package testenv
var  x=1
