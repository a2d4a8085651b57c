pub mod pcapgen;
