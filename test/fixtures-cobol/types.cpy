      * Every numeric storage GnuCOBOL writes, one record per row.
      * Read by types.cbl (COPY) and by the hms-sync copybook parser.
       01  TYPES-REC.
           05  T-ID            PIC 9(4).
           05  T-NAME          PIC X(12).
           05  T-PACKED        PIC S9(7)V99 COMP-3.
           05  T-PACKED-U      PIC 9(6) COMP-3.
           05  T-PACKED-BIG    PIC S9(25)V9(6) COMP-3.
           05  T-BIN-TINY      PIC S9(2) COMP.
           05  T-BIN-S         PIC S9(4) COMP.
           05  T-BIN           PIC S9(9) COMP.
           05  T-BIN-U         PIC 9(4) COMP.
           05  T-BIN-L         PIC S9(18) COMP.
           05  T-BIN5          PIC S9(9) COMP-5.
           05  T-BIN5-U        PIC 9(4) COMP-5.
           05  T-BIN5-L        PIC S9(18) COMP-5.
           05  T-ZONED         PIC S9(5)V99.
           05  T-ZONED-U       PIC 9(5).
           05  T-ZONED-LEAD    PIC S9(3) SIGN LEADING.
           05  T-LEAD-SEP      PIC S9(5) SIGN LEADING SEPARATE.
           05  T-TRAIL-SEP     PIC S9(3)V9 SIGN TRAILING SEPARATE.
