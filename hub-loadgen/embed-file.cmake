# embed-file.cmake: writes the bytes of IN as a NUL-terminated C array named NAME into OUT
# (cmake -DIN=… -DOUT=… -DNAME=… -P embed-file.cmake), so that a file ships inside a binary.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
       bytes "${bytes}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed-file.cmake: do not edit. */\n"
                    "const char ${NAME}[] = {\n${bytes}0x00};\n")
